"""Scaling-law fitting: ``fit(law, source, **options) -> FitResult``.

    from difflaws.fit import fit, load_points
    result = fit("chinchilla", "runs.csv", drop_highest=5, bootstrap=1000)
    result.params["alpha"], result.ci["alpha"], result.diagnostics["interior"]

Laws are ``fitter`` plugins (``difflaws kinds fitter`` lists them); options
are the fields of the law's config class.
"""

from difflaws.fit.api import build_fitter, fit, fit_by, fitter_config, plot
from difflaws.fit.result import FitResult
from difflaws.fit.table import PointTable, load_points

__all__ = ["FitResult", "PointTable", "build_fitter", "fit", "fit_by", "fitter_config",
           "load_points", "plot"]
