"""What every fitter returns: coefficients, intervals, diagnostics."""

from __future__ import annotations

import math

import attrs
import numpy as np


def json_ready(value):
    """Turn numpy scalars/arrays and nested containers into JSON-ready values."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return [json_ready(v) for v in value.tolist()]
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


@attrs.define
class FitResult:
    """One fitted law.

    ``params`` maps coefficient names (``E, A, B, alpha, beta``; ``A, alpha``;
    or, for frontier fitters, a law name such as ``D_star`` to its own
    ``{"A": .., "alpha": ..}``) to full-precision values.  ``ci`` mirrors
    ``params`` (and ``derived``) with ``(low, high)`` percentile intervals.
    ``derived`` holds quantities computed from the coefficients (allocation
    exponents, optima at named budgets).  ``diagnostics`` says how much to
    trust the fit.  ``extra`` carries arrays for plots and is not serialised.
    """

    law: str
    params: dict
    ci: dict = attrs.Factory(dict)
    derived: dict = attrs.Factory(dict)
    diagnostics: dict = attrs.Factory(dict)
    options: dict = attrs.Factory(dict)
    extra: dict = attrs.Factory(dict)

    def to_dict(self) -> dict:
        out = {"law": self.law, "params": self.params, "ci": self.ci}
        if self.derived:
            out["derived"] = self.derived
        out["diagnostics"] = self.diagnostics
        if self.options:
            out["options"] = self.options
        return json_ready(out)
