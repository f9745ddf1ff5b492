"""The module the ``difflaws`` entry point names: the ``kaplan`` fitter's config.

The config's fields are the law's options (``difflaws fit -o KEY=VALUE``).
numpy, scipy and matplotlib load only inside the methods that need them, so
``difflaws kinds`` and ``difflaws plan`` stay light.
"""

from __future__ import annotations

import math

import attrs
from attrs import validators as v

from difflaws import hookimpl
from difflaws.errors import UserError
from difflaws.interfaces import FitterConfig, PlanContribution, key


@attrs.frozen(kw_only=True)
class KaplanFitterConfig(FitterConfig):
    """Kaplan L(N,D) = [(N_c/N)^(α_N/α_D) + D_c/D]^α_D, least squares on log-loss; C = 6ND."""

    ci: float = key(0.95, validator=[v.gt(0.0), v.lt(1.0)],
                    doc="level of the asymptotic (Gauss-Newton, Student-t) confidence intervals")

    def build(self, **context):
        from difflaws_example_fitter.fit import KaplanFitter

        return KaplanFitter(self)

    def figure(self, results, path):
        from difflaws_example_fitter.figure import draw

        return draw(results, path)

    @classmethod
    def plan_laws(cls, result):
        """N*, D*, L* from the fitted coefficients; C counts 6·N·D, so the convention is 6P."""
        from difflaws.plan.laws import PowerLaw
        from difflaws_example_fitter.law import NAMES, frontier

        params = result.get("params") or {}
        try:
            values = {k: float(params[k]) for k in NAMES}
        except (KeyError, TypeError, ValueError):
            raise UserError(f"kaplan fit: needs params {', '.join(NAMES)}") from None
        if not all(math.isfinite(x) and x > 0 for x in values.values()):
            raise UserError("kaplan fit: N_c, D_c, alpha_N and alpha_D must be positive numbers")
        laws = {name: PowerLaw(A, alpha) for name, (A, alpha) in frontier(values).items()}
        # the compute range the points spanned, so plans can say how far they extrapolate
        seen = (result.get("derived") or {}).get("compute_range") or ()
        return PlanContribution(laws, "6P", tuple(float(c) for c in seen))


@hookimpl
def difflaws_register_kinds(register):
    register("fitter", "kaplan", KaplanFitterConfig)
