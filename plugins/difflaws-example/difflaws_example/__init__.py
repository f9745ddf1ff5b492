"""An example difflaws plugin package; see plugin.py."""

__version__ = "0.1.0"
