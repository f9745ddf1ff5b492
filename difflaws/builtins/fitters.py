"""Built-in scaling-law fitters (category ``fitter``).

Each config is what ``difflaws fit -o KEY=VALUE`` and ``difflaws.fit.fit(law,
table, **options)`` set; ``build()`` returns an object with
``fit(table) -> FitResult``.  The numerics live in ``difflaws.fit``.
"""

from __future__ import annotations

import attrs
from attrs import validators as v

from difflaws import hookimpl
from difflaws.spec.errors import FieldError

_positive = v.gt(0)
_count = [v.instance_of(int), v.ge(0)]
_level = [v.gt(0.0), v.lt(1.0)]


def _budgets(value) -> tuple:
    return tuple(float(c) for c in value)


def _check_budgets(inst, attribute, value):
    if any(not c > 0 for c in value):
        raise FieldError(attribute.name, "budgets must be positive FLOP counts")


@attrs.frozen(kw_only=True, slots=False)  # mixed into several fitters
class _Robust:
    """Huber loss on log residuals and percentile-bootstrap settings."""

    delta: float = attrs.field(default=1.0, validator=_positive)
    bootstrap: int = attrs.field(default=10_000, validator=_count)
    ci: float = attrs.field(default=0.95, validator=_level)
    seed: int = 0


@attrs.frozen(kw_only=True, slots=False)  # mixed into several fitters
class _FromCurves:
    """How loss curves become points at compute budgets (only when the source holds curves)."""

    convention: str = attrs.field(default="M", validator=v.in_(("M", "6P")))
    budgets: tuple = attrs.field(default=(), converter=_budgets, validator=_check_budgets)
    n_budgets: int = attrs.field(default=12, validator=[v.instance_of(int), v.ge(1)])
    min_step: float = attrs.field(default=0.0, validator=v.ge(0))


@attrs.frozen(kw_only=True)
class ChinchillaFitterConfig(_Robust):
    """Chinchilla Approach 3: L(N,D) = E + A/N^α + B/D^β by Huber on log-loss, multi-start L-BFGS."""

    delta: float = attrs.field(default=1e-3, validator=_positive)
    grid: str = attrs.field(default="hoffmann", validator=v.in_(("hoffmann", "small")))
    polish: int = attrs.field(default=10, validator=[v.instance_of(int), v.ge(1)])
    reach_tol: float = attrs.field(default=1e-6, validator=_positive)
    bootstrap: int = attrs.field(default=4000, validator=_count)
    bootstrap_starts: int = attrs.field(default=3, validator=[v.instance_of(int), v.ge(1)])
    drop_highest: int = attrs.field(default=0, validator=_count)
    budgets: tuple = attrs.field(default=(1e21, 5.88e23, 1e25), converter=_budgets,
                                 validator=_check_budgets)

    def build(self, **context):
        from difflaws.fit.chinchilla import ChinchillaFitter

        return ChinchillaFitter(self)


@attrs.frozen(kw_only=True)
class PowerLawFitterConfig(_Robust):
    """y = A·x^α by Huber loss on log residuals, with bootstrap CIs (10,000 refits)."""

    x: str = "flops"
    y: str = "params"
    sigma: str = ""  # column with the std of ln y; weights 1/σ² (Porian et al.)
    target: str = ""  # optional label of what y is (e.g. N_star), kept in the output for plans
    drop_highest: int = attrs.field(default=0, validator=_count)

    def build(self, **context):
        from difflaws.fit.powerlaw import PowerLawFitter

        return PowerLawFitter(self)


@attrs.frozen(kw_only=True)
class IsoFlopFitterConfig(_Robust, _FromCurves):
    """IsoFLOP profiles (Approach 2, "sq"): per-budget parabola vertex, then N*, D*, L* laws."""

    edge: str = attrs.field(default="error", validator=v.in_(("error", "drop")))
    n_budgets: int = attrs.field(default=12, validator=[v.instance_of(int), v.ge(3)])

    def build(self, **context):
        from difflaws.fit.isoflop import IsoFlopFitter

        return IsoFlopFitter(self)


@attrs.frozen(kw_only=True)
class CurvesFitterConfig(_FromCurves):
    """Per-run loss curves L(S) = C₀ + B₀·S^(−b), read off at compute budgets (M or 6P)."""

    def build(self, **context):
        from difflaws.fit.curves import CurvesFitter

        return CurvesFitter(self)


@attrs.frozen(kw_only=True)
class BatchSizeFitterConfig(_Robust):
    """Optimal batch size B*(D) = A·D^α: per (size, target loss), the batch with fewest tokens."""

    # only used when the source holds loss curves: target losses to reach
    targets: tuple = attrs.field(default=(), converter=_budgets)
    n_targets: int = attrs.field(default=8, validator=[v.instance_of(int), v.ge(1)])
    min_step: float = attrs.field(default=0.0, validator=v.ge(0))

    def build(self, **context):
        from difflaws.fit.hyperlaws import BatchSizeFitter

        return BatchSizeFitter(self)


@attrs.frozen(kw_only=True)
class LearningRateFitterConfig(_Robust, _FromCurves):
    """Optimal learning rate η*(B) = A·B^α: per (size, batch, budget), the LR of lowest loss."""

    n_budgets: int = attrs.field(default=6, validator=[v.instance_of(int), v.ge(1)])

    def build(self, **context):
        from difflaws.fit.hyperlaws import LearningRateFitter

        return LearningRateFitter(self)


@hookimpl
def difflaws_register_kinds(register):
    register("fitter", "chinchilla", ChinchillaFitterConfig)
    register("fitter", "powerlaw", PowerLawFitterConfig)
    register("fitter", "isoflop", IsoFlopFitterConfig)
    register("fitter", "curves", CurvesFitterConfig)
    register("fitter", "batchsize", BatchSizeFitterConfig)
    register("fitter", "lr", LearningRateFitterConfig)
