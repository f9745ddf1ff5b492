"""An example difflaws parameterization plugin: see plugin.py."""

__version__ = "0.1.0"
