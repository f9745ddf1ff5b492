"""Built-in scaling-law fitters (category ``fitter``).

Each config is what ``difflaws fit -o KEY=VALUE`` and ``difflaws.fit.fit(law,
table, **options)`` set; ``build()`` returns an object with
``fit(table) -> FitResult``.  The numerics live in ``difflaws.fit``.
"""

from __future__ import annotations

import attrs
from attrs import validators as v

from difflaws import hookimpl
from difflaws.errors import FieldError, UserError
from difflaws.interfaces import FitterConfig, PlanContribution, key
from difflaws.spec.types import SEED

_positive = v.gt(0)
_count = [v.instance_of(int), v.ge(0)]
_level = [v.gt(0.0), v.lt(1.0)]


def _budgets(value) -> tuple:
    return tuple(float(c) for c in value)


def _check_budgets(inst, attribute, value):
    """every value > 0"""
    if any(not c > 0 for c in value):
        raise FieldError(attribute.name, "budgets must be positive FLOP counts")


def _draw(name: str, results, path) -> list:
    from difflaws.plots import figures

    return getattr(figures, name)(results, path)


def _power_law(value, where: str):
    """A ``{"A": .., "alpha": ..}`` object of a fit result as a PowerLaw, checked."""
    import math

    from difflaws.plan.laws import PowerLaw

    try:
        law = PowerLaw(float(value["A"]), float(value["alpha"]))
    except (TypeError, KeyError, ValueError):
        raise UserError(f"{where}: expected an object with numbers 'A' and 'alpha'") from None
    if not (math.isfinite(law.A) and math.isfinite(law.alpha)) or law.A <= 0:
        raise UserError(f"{where}: A must be a positive finite number and alpha finite")
    return law


def _frontier(result: dict, where: str) -> PlanContribution:
    """The closed-form frontier of a result's L(N,D) = E + A/N^α + B/D^β, C = 6ND."""
    from difflaws.fit.chinchilla import compute_optimal_frontier

    import math

    try:
        laws = compute_optimal_frontier(result["params"])
    except (KeyError, TypeError, ValueError):
        raise UserError(f"{where}: needs params E, A, B, alpha, beta") from None
    # a non-positive α or β, or G = (αA/(βB))^(1/(α+β)) past float64's range (inf or NaN),
    # leaves no frontier
    if not all(math.isfinite(law.A) and law.A > 0 for law in laws.values()):
        p = result["params"]
        raise UserError(f"{where}: alpha = {p['alpha']!r}, beta = {p['beta']!r} give no finite "
                        "compute-optimal frontier (both must be positive and not near 0); "
                        "check the fit's diagnostics (interior, at_bound) and refit")
    return PlanContribution(laws, "6P")


def _convention(result: dict) -> str:
    return str((result.get("options") or {}).get("convention") or "M")


@attrs.frozen(kw_only=True, slots=False)  # mixed into several fitters
class _Robust(FitterConfig):
    """Huber loss on log residuals and percentile-bootstrap settings."""

    delta: float = key(1.0, validator=_positive, doc="Huber loss δ on log residuals")
    bootstrap: int = key(10_000, validator=_count, doc="bootstrap refits for the CIs; 0: no CIs")
    ci: float = key(0.95, validator=_level, doc="confidence level of the percentile intervals")
    seed: int = key(0, validator=SEED, doc="seed of the bootstrap resampling")


@attrs.frozen(kw_only=True, slots=False)  # mixed into several fitters
class _FromCurves(FitterConfig):
    """How loss curves become points at compute budgets (only when the source holds curves)."""

    convention: str = key("M", validator=v.in_(("M", "6P")),
                          doc="FLOPs per token: M (attention included) or 6P (6 × parameters)")
    budgets: tuple = key((), converter=_budgets, validator=_check_budgets,
                         doc="compute budgets C in FLOPs; empty: n_budgets spread over the runs")
    n_budgets: int = key(12, validator=[v.instance_of(int), v.ge(1)],
                         doc="how many log-spaced budgets when budgets is empty")
    min_step: float = key(0.0, validator=v.ge(0), doc="fit each curve from this step on")


@attrs.frozen(kw_only=True, slots=False)  # mixed into the surface fitters
class _MultiStart(_Robust):
    """The options of the shared log-space surface fit (``difflaws.fit.multistart``)."""

    delta: float = key(1e-3, validator=_positive, doc="Huber loss δ on log-loss residuals")
    polish: int = key(10, validator=[v.instance_of(int), v.ge(1)],
                      doc="best distinct screened starts refined to tight tolerance")
    reach_tol: float = key(1e-6, validator=_positive,
                           doc="relative gap to the best objective within which a start "
                               "counts as reaching it")
    bootstrap_starts: int = key(3, validator=[v.instance_of(int), v.ge(1)],
                                doc="distinct polished optima each bootstrap refit starts from")
    drop_highest: int = key(0, validator=_count, doc="drop this many highest-loss points first")


@attrs.frozen(kw_only=True)
class ChinchillaFitterConfig(_MultiStart):
    """Chinchilla Approach 3: L(N,D) = E + A/N^α + B/D^β by Huber on log-loss, multi-start L-BFGS."""

    grid: str = key("hoffmann", validator=v.in_(("hoffmann", "small")),
                    doc="L-BFGS starts: Hoffmann's 4,500-point grid or a quick 243-point one")
    bootstrap: int = key(4000, validator=_count, doc="bootstrap refits for the CIs; 0: no CIs")
    budgets: tuple = key((), converter=_budgets, validator=_check_budgets,
                         doc="compute budgets C = 6ND (FLOPs) at which to read off N* and D*; "
                             "empty: the fitted range's smallest, largest and 10 × largest")
    max_extrapolation: float = key(100.0, validator=v.ge(1.0),
                                   doc="read-offs only up to this multiple of the largest "
                                       "fitted compute; more are omitted (and listed)")
    min_step: float = key(0.0, validator=v.ge(0),
                          doc="loss curves: fit the points from this step on (the early "
                              "transient before it follows no power law)")

    def build(self, **context):
        from difflaws.fit.chinchilla import ChinchillaFitter

        return ChinchillaFitter(self)

    def figure(self, results, path):
        return _draw("loss_surface", results, path)

    @classmethod
    def plan_laws(cls, result):
        """N*(C) and D*(C) from L(N,D)'s closed-form frontier under C = 6ND."""
        return _frontier(result, "chinchilla fit")


DATA_CONSTRAINED = "data-constrained"


def _check_epochs(inst, attribute, value):
    """every value ≥ 1"""
    if any(not e >= 1 for e in value):
        raise FieldError(attribute.name, "epoch counts must be at least 1")


@attrs.frozen(kw_only=True)
class DataConstrainedFitterConfig(_MultiStart):
    """Data-constrained L = E + A/N'^α + B/D'^β: repeated tokens decay (R_D*), excess params (R_N*)."""

    grid: str = key("small", validator=v.in_(("hoffmann", "small")),
                    doc="starts: Hoffmann's 4,500 or a quick 243, each with one of 9 (R_D*, R_N*)")
    bootstrap: int = key(1000, validator=_count, doc="bootstrap refits for the CIs; 0: no CIs")
    points: str = key("final", validator=v.in_(("final", "all")),
                      doc="loss curves (rows with run and step): each run's last point, or all")
    base: str = key("", doc='a base-law fit JSON (fit --law chinchilla --json) whose E, A, B, '
                            'α, β are held fixed (two-stage fit); "": fit them jointly')
    epochs: tuple = key((4.0, 16.0), converter=_budgets, validator=_check_epochs,
                        doc="epoch counts at which to read off the effective-data value D'/D")
    keep_draws: int = key(100, validator=_count,
                          doc="bootstrap parameter draws kept in the result, for plan "
                              "--unique-tokens intervals")

    def build(self, **context):
        from difflaws.fit.data_constrained import DataConstrainedFitter

        return DataConstrainedFitter(self, DATA_CONSTRAINED)

    def figure(self, results, path):
        from difflaws.plots.data_constrained import draw

        return draw(results, path)

    @classmethod
    def plan_laws(cls, result):
        """The base law's frontier under C = 6ND: the compute-optimal run with unlimited data."""
        return _frontier(result, f"{DATA_CONSTRAINED} fit")

    @classmethod
    def loss_model(cls, result):
        """L(N, D, U) at the fitted coefficients and at the kept bootstrap draws."""
        from difflaws.fit.data_constrained import loss_model

        return loss_model(result, f"{DATA_CONSTRAINED} fit")


@attrs.frozen(kw_only=True)
class PowerLawFitterConfig(_Robust):
    """y = A·x^α by Huber loss on log residuals, with bootstrap CIs (10,000 refits)."""

    x: str = key("flops", doc="column of the table used as x")
    y: str = key("params", doc="column of the table used as y")
    sigma: str = key("",
                     doc='column with the std of ln y, weighting 1/σ² (Porian et al.); "": none')
    target: str = key("",
                      doc="what y is (N_star, D_star or L_star), so plan --laws can use the fit")
    drop_highest: int = key(0, validator=_count,
                            doc="drop this many points with the highest y first")

    def build(self, **context):
        from difflaws.fit.powerlaw import PowerLawFitter

        return PowerLawFitter(self)

    def figure(self, results, path):
        return _draw("power_law", results, path)

    @classmethod
    def plan_laws(cls, result):
        """The law named by ``options.target`` (N_star, D_star or L_star), if any."""
        target = (result.get("options") or {}).get("target")
        if target not in ("N_star", "D_star", "L_star"):
            return PlanContribution({})
        law = _power_law(result["params"], f"powerlaw fit ({target})")
        return PlanContribution({target: law}, _convention(result))


@attrs.frozen(kw_only=True)
class IsoFlopFitterConfig(_Robust, _FromCurves):
    """IsoFLOP profiles (Approach 2, "sq"): per-budget parabola vertex, then N*, D*, L* laws."""

    edge: str = key("error", validator=v.in_(("error", "drop")),
                    doc="a budget whose optimum is not inside the size grid: error, or drop it")
    n_budgets: int = key(12, validator=[v.instance_of(int), v.ge(3)],
                         doc="how many log-spaced budgets when budgets is empty")

    def build(self, **context):
        from difflaws.fit.isoflop import IsoFlopFitter

        return IsoFlopFitter(self)

    def figure(self, results, path):
        return _draw("isoflop_profiles", results, path)

    @classmethod
    def plan_laws(cls, result):
        """N*, D*, L* (non-embedding parameters; C in ``options.convention``) and the budgets."""
        params = result["params"]
        laws = {name: _power_law(params[name], f"isoflop fit: {name}")
                for name in ("N_star", "D_star", "L_star") if name in params}
        optima = (result.get("derived") or {}).get("optima", [])
        budgets = tuple(float(o["budget"]) for o in optima if isinstance(o, dict) and o.get("budget"))
        return PlanContribution(laws, _convention(result), budgets)


@attrs.frozen(kw_only=True)
class CurvesFitterConfig(_FromCurves):
    """Per-run loss curves L(S) = C₀ + B₀·S^(−b), read off at compute budgets (M or 6P)."""

    def build(self, **context):
        from difflaws.fit.curves import CurvesFitter

        return CurvesFitter(self)

    def figure(self, results, path):
        return _draw("loss_curves", results, path)


@attrs.frozen(kw_only=True)
class BatchSizeFitterConfig(_Robust):
    """Optimal batch size B*(D) = A·D^α: per (size, target loss), the batch with fewest tokens."""

    targets: tuple = key((), converter=_budgets,
                         doc="target losses to reach (loss curves only); empty: n_targets spread")
    n_targets: int = key(8, validator=[v.instance_of(int), v.ge(1)],
                         doc="how many target losses when targets is empty")
    min_step: float = key(0.0, validator=v.ge(0), doc="fit each curve from this step on")

    def build(self, **context):
        from difflaws.fit.hyperlaws import BatchSizeFitter

        return BatchSizeFitter(self)

    def figure(self, results, path):
        return _draw("batch_size_law", results, path)

    @classmethod
    def plan_laws(cls, result):
        return PlanContribution({"B_star": _power_law(result["params"], "batchsize fit")})


@attrs.frozen(kw_only=True)
class LearningRateFitterConfig(_Robust, _FromCurves):
    """Optimal learning rate η*(B) = A·B^α: per (size, batch, budget), the LR of lowest loss."""

    n_budgets: int = key(6, validator=[v.instance_of(int), v.ge(1)],
                         doc="how many log-spaced budgets when budgets is empty")

    def build(self, **context):
        from difflaws.fit.hyperlaws import LearningRateFitter

        return LearningRateFitter(self)

    def figure(self, results, path):
        return _draw("learning_rate_law", results, path)

    @classmethod
    def plan_laws(cls, result):
        return PlanContribution({"lr_star": _power_law(result["params"], "lr fit")})


@hookimpl
def difflaws_register_kinds(register):
    register("fitter", "chinchilla", ChinchillaFitterConfig)
    register("fitter", DATA_CONSTRAINED, DataConstrainedFitterConfig)
    register("fitter", "powerlaw", PowerLawFitterConfig)
    register("fitter", "isoflop", IsoFlopFitterConfig)
    register("fitter", "curves", CurvesFitterConfig)
    register("fitter", "batchsize", BatchSizeFitterConfig)
    register("fitter", "lr", LearningRateFitterConfig)
