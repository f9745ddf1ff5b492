"""Built-in plugins.

Every module in this package is loaded as a plugin, through the same hooks a
third-party package uses.  Adding a module here is all it takes to add
built-in kinds.
"""
