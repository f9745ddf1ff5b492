"""Chinchilla Approach 3: L(N, D) = E + A/N^α + B/D^β by robust multi-start L-BFGS.

Following Hoffmann et al. (2022) and Epoch's replication (docs/fitting.md §1–2, §5):

* the prediction is written in log space as a log-sum-exp,
  log L̂ = LSE(a − α·ln N, b − β·ln D, e) with A = e^a, B = e^b, E = e^e;
* the loss is the Huber loss (δ = 1e-3) of log L̂ − log L, *summed* and
  divided by δ so the objective is O(1): L-BFGS stopping rules are relative
  to max(|f|, 1), and an objective of ~1e-3 (sum) or ~1e-6 (mean) makes
  them stop near the start;
* every point of Hoffmann's 4,500-start grid is screened with loose
  tolerances, the best distinct end points are polished tightly, and the
  optimum is checked to have moved away from its start and to sit inside
  the plausible box;
* a bootstrap over runs refits every replicate from the polished optima.

The objective and its analytic gradient (``loss_surface``) and the optimiser
(``lbfgs``) are numba-jitted; the screening, polishing and bootstrap that
this law shares with others are ``difflaws.fit.multistart``.
"""

from __future__ import annotations

import numpy as np

from difflaws.errors import UserError
# bench/fit.py and the tests drive the stages through this module
from difflaws.fit import identification, readoffs
from difflaws.fit.multistart import bootstrap, distinct, fit_surface, multistart

__all__ = ["NAMES", "ChinchillaFitter", "allocation", "at_bound", "bootstrap", "bounds",
           "check_grid", "compute_optimal_frontier", "distinct", "hoffmann_grid", "log_predict",
           "make_data", "multistart", "negligible_terms", "predict", "small_grid", "to_params"]

# x = [a, b, e, alpha, beta]
NAMES = ("a", "b", "e", "alpha", "beta")


def hoffmann_grid() -> np.ndarray:
    """Hoffmann's 4,500 starts: α, β ∈ {0,…,2}, e ∈ {−1,…,1}, a, b ∈ {0,5,…,25}."""
    alpha = np.arange(0.0, 2.01, 0.5)
    beta = np.arange(0.0, 2.01, 0.5)
    e = np.arange(-1.0, 1.01, 0.5)
    a = np.arange(0.0, 25.1, 5.0)
    b = np.arange(0.0, 25.1, 5.0)
    A, Bt, Ee, Al, Be = np.meshgrid(a, b, e, alpha, beta, indexing="ij")
    return np.stack([A.ravel(), Bt.ravel(), Ee.ravel(), Al.ravel(), Be.ravel()], axis=1)


def small_grid() -> np.ndarray:
    """A 243-start grid over the same box (3 values per axis), for quick fits."""
    axes = [np.array([0.0, 10.0, 20.0]), np.array([0.0, 10.0, 20.0]),
            np.array([-1.0, 0.0, 1.0]), np.array([0.0, 0.5, 1.0]), np.array([0.0, 0.5, 1.0])]
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)


def make_data(params, tokens, loss) -> np.ndarray:
    return np.ascontiguousarray(np.stack([np.log(params), np.log(tokens), np.log(loss)]))


def predict(x, params, tokens) -> np.ndarray:
    """L̂(N, D) for x = [a, b, e, alpha, beta] (works on arrays)."""
    with np.errstate(over="ignore"):  # a loss past float64's range is inf
        return np.exp(log_predict(x, params, tokens))


def log_predict(x, params, tokens) -> np.ndarray:
    """log L̂(N, D) as the log-sum-exp the objective uses: finite for any finite x."""
    a, b, e, al, be = x
    terms = np.broadcast_arrays(a - al * np.log(params), b - be * np.log(tokens), e)
    return np.logaddexp(np.logaddexp(terms[0], terms[1]), terms[2])


# -- the fitter ------------------------------------------------------------

SOFT_BOX = {"alpha": (1e-3, 3.0), "beta": (1e-3, 3.0)}
MIN_E = 1e-3  # E below this fraction of the lowest loss: no irreducible loss was found
# a term whose share of the loss varies by less than this over the data is not seen in them
# (0.1 %: below the seed-to-seed noise of any loss a study would fit)
NEGLIGIBLE = 1e-3


class ChinchillaFitter:
    """Built by the ``chinchilla`` fitter config; ``fit(table) -> FitResult``."""

    law = "chinchilla"

    def __init__(self, config):
        self.config = config

    def fit(self, table):
        from difflaws.fit.resample import need_points

        cfg = self.config
        if cfg.min_step:
            if "step" not in table:
                raise UserError(f"{table.source}: min_step = {cfg.min_step:g} keeps the points of "
                                "loss curves from that step on, but these points have no "
                                "'step' column; fit a run or sweep directory, or drop min_step")
            table = table.select(table["step"] >= cfg.min_step)
        table = table.drop_highest(cfg.drop_highest)
        need_points(table, 8, "the chinchilla law L(N,D)")
        check_grid(table)
        data = make_data(table["params"], table["tokens"], table["loss"])
        starts = hoffmann_grid() if cfg.grid == "hoffmann" else small_grid()
        result = fit_surface(self, table, data, starts, cfg.delta, cfg,
                             {"delta": cfg.delta, "grid": cfg.grid,
                              "drop_highest": cfg.drop_highest, "min_step": cfg.min_step,
                              "bootstrap": cfg.bootstrap,
                              "seed": cfg.seed, "compute_convention": "C = 6·N·D",
                              "max_extrapolation": cfg.max_extrapolation})
        compute = readoffs.fitted_compute(table)
        omitted = readoffs.budgets(cfg.budgets, compute, cfg.max_extrapolation)[1]
        result.diagnostics["fitted_compute"] = [float(compute.min()), float(compute.max())]
        if omitted:
            result.diagnostics["omitted_budgets"] = omitted
        flagged = {w["parameter"] for w in result.diagnostics["warnings"]}
        identification.record(result.diagnostics, [
            w for w in negligible_terms(result.extra["x"], table, result.ci)
            if w["parameter"] not in flagged])  # one warning per coefficient
        return result

    # the law's pieces of the shared fit (difflaws.fit.multistart.fit_surface)

    @staticmethod
    def to_params(x) -> dict:
        return to_params(x)

    def derived(self, params, table) -> dict:
        compute = readoffs.fitted_compute(table)
        kept = readoffs.budgets(self.config.budgets, compute, self.config.max_extrapolation)[0]
        out = allocation(params, kept)
        far = {C: f for C in kept if (f := readoffs.factor(C, compute)) > readoffs.INSIDE}
        beyond = {f"{name}@{C:g}": f for C, f in far.items()
                  for name in ("N_opt", "D_opt", "tokens_per_param")}
        return {**out, "extrapolation": beyond} if beyond else out

    @staticmethod
    def at_bound(x, table) -> list:
        return at_bound(x, table)

    @staticmethod
    def bounds(table) -> dict:
        return bounds(table)

    @staticmethod
    def residuals(x, table) -> np.ndarray:
        return log_predict(x, table["params"], table["tokens"]) - np.log(table["loss"])


def to_params(x) -> dict:
    with np.errstate(over="ignore"):  # a log A past float64's range is inf, and at_bound says so
        return {"E": float(np.exp(x[2])), "A": float(np.exp(x[0])), "B": float(np.exp(x[1])),
                "alpha": float(x[3]), "beta": float(x[4])}


def bounds(table) -> dict:
    """The search box of each coefficient, as ``at_bound`` and the warnings apply it."""
    return {"alpha": SOFT_BOX["alpha"], "beta": SOFT_BOX["beta"],
            "E": (MIN_E * float(table["loss"].min()), None),
            "A": (None, float(np.finfo(float).max)), "B": (None, float(np.finfo(float).max))}


def at_bound(x, table) -> list:
    """Names of the coefficients of x = [a, b, e, alpha, beta, ...] at or past ``bounds``,
    by the same rule as the identification warnings, so the two never disagree."""
    p = to_params(x)
    return [k for k, (lo, hi) in bounds(table).items()
            if identification.bound_side(p[k], lo, hi)]


def negligible_terms(x, table, ci) -> list[dict]:
    """Warnings for a power-law term that is (nearly) the same at every point: A/N^α that
    is all but constant is absorbed by E, and one that is all but 0 is not seen at all;
    either way the data fix neither its coefficient nor its exponent, though both may
    sit inside their boxes (α = 2.9 with A = 6e8 on N ≥ 1e8, say)."""
    log_fit = log_predict(x, table["params"], table["tokens"])
    out = []
    for coef, exponent, column, symbol in (("A", "alpha", "params", "N"),
                                           ("B", "beta", "tokens", "D")):
        i = NAMES.index(exponent)
        # the term's share of L̂, in (0, 1]: a log-sum-exp term never exceeds the sum
        share = np.exp(x[i - 3] - x[i] * np.log(table[column]) - log_fit)
        swing = float(share.max() - share.min())
        if swing < NEGLIGIBLE:
            out.append(identification.flag(
                exponent, "negligible term", f"{coef}/{symbol}^{exponent} "
                f"changes by {swing:.2g} of the loss across the data: they do not "
                f"determine {coef} or {exponent}", None, ci.get(exponent)))
    return out


def allocation(p: dict, budgets) -> dict:
    """Compute-optimal split under C = 6ND (docs/fitting.md §1): a, b, G, N*(C), D*(C)."""
    # in float64, not Python floats: a degenerate fit or bootstrap draw (B = 0 after an
    # underflow, α + β = 0, a huge 1/(α+β)) gives inf or NaN instead of raising
    # ZeroDivisionError or OverflowError; inf and NaN are the honest answers there, and
    # the identification warnings say why
    al, be, A, B = (np.float64(p[k]) for k in ("alpha", "beta", "A", "B"))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        a, b = be / (al + be), al / (al + be)
        G = (al * A / (be * B)) ** (1.0 / (al + be))
        out = {"a": float(a), "b": float(b), "G": float(G)}
        for C in budgets:
            n = G * np.float64(C / 6.0) ** a
            d = np.float64(C / 6.0) ** b / G
            out[f"N_opt@{C:g}"] = float(n)
            out[f"D_opt@{C:g}"] = float(d)
            out[f"tokens_per_param@{C:g}"] = float(d / n)
    return out


def check_grid(table) -> None:
    """L(N, D) is only identifiable when ln N and ln D vary independently."""
    from difflaws.errors import UserError

    lnN, lnD = np.log(table["params"]), np.log(table["tokens"])
    if np.unique(lnN).size < 2 or np.unique(lnD).size < 2:
        raise UserError(f"{table.source}: degenerate grid: need at least 2 distinct model sizes "
                        "and 2 distinct token counts for L(N,D)")
    X = np.column_stack([lnN - lnN.mean(), lnD - lnD.mean()])
    sv = np.linalg.svd(X / np.linalg.norm(X, axis=0), compute_uv=False)
    if sv[-1] < 1e-6:
        raise UserError(f"{table.source}: degenerate grid: tokens are a fixed power of params "
                        "in every row, so N and D effects cannot be separated; vary them "
                        "independently (several budgets per size)")


def compute_optimal_frontier(p: dict) -> dict:
    """N*(C) and D*(C) of L = E + A/N^α + B/D^β under C = 6·N·D (N = parameters).

    Minimising over N at fixed C gives N = G·(C/6)^a and D = (C/6)^b / G with
    G = (αA/(βB))^(1/(α+β)), a = β/(α+β), b = α/(α+β) (docs/fitting.md §1).
    L*(C) on this frontier keeps E, so it is no pure power law and is left out.
    """
    from difflaws.plan.laws import PowerLaw

    split = allocation(p, ())
    a, b, G = split["a"], split["b"], split["G"]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return {"N_star": PowerLaw(float(G * np.float64(6.0) ** -a), a),
                "D_star": PowerLaw(float(np.float64(6.0) ** -b / G), b)}
