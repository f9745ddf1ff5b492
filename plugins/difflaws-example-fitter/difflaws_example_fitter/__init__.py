"""An example difflaws fitter plugin: plugin.py (registration), law.py (the formulas),
fit.py (the fit), figure.py (``fit --plot``)."""

__version__ = "0.1.0"
