"""One module per ``difflaws`` sub-command.

Each module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``main(args) -> int``.  Every module in this package is a command.
"""
