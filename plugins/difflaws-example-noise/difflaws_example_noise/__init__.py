"""An example difflaws noise plugin: see plugin.py (registration) and zipf.py (the process)."""

__version__ = "0.1.0"
