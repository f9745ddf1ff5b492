"""An example difflaws backbone plugin: plugin.py (config, figures), convmixer.py (the module)."""

__version__ = "0.1.0"
