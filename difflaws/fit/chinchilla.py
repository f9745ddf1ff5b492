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

# bench/fit.py and the tests drive the stages through this module
from difflaws.fit.multistart import bootstrap, distinct, fit_surface, multistart

__all__ = ["NAMES", "ChinchillaFitter", "allocation", "at_bound", "bootstrap", "check_grid",
           "compute_optimal_frontier", "distinct", "hoffmann_grid", "make_data", "multistart",
           "predict", "small_grid", "to_params"]

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
    a, b, e, al, be = x
    return np.exp(e) + np.exp(a - al * np.log(params)) + np.exp(b - be * np.log(tokens))


# -- the fitter ------------------------------------------------------------

SOFT_BOX = {"alpha": (1e-3, 3.0), "beta": (1e-3, 3.0)}


class ChinchillaFitter:
    """Built by the ``chinchilla`` fitter config; ``fit(table) -> FitResult``."""

    law = "chinchilla"

    def __init__(self, config):
        self.config = config

    def fit(self, table):
        from difflaws.fit.resample import need_points

        cfg = self.config
        table = table.drop_highest(cfg.drop_highest)
        need_points(table, 8, "the chinchilla law L(N,D)")
        check_grid(table)
        data = make_data(table["params"], table["tokens"], table["loss"])
        starts = hoffmann_grid() if cfg.grid == "hoffmann" else small_grid()
        return fit_surface(self, table, data, starts, cfg.delta, cfg,
                           {"delta": cfg.delta, "grid": cfg.grid,
                            "drop_highest": cfg.drop_highest, "bootstrap": cfg.bootstrap,
                            "seed": cfg.seed, "compute_convention": "C = 6·N·D"})

    # the law's pieces of the shared fit (difflaws.fit.multistart.fit_surface)

    @staticmethod
    def to_params(x) -> dict:
        return to_params(x)

    def derived(self, params) -> dict:
        return allocation(params, self.config.budgets)

    @staticmethod
    def at_bound(x, table) -> list:
        return at_bound(x, table)

    @staticmethod
    def residuals(x, table) -> np.ndarray:
        return np.log(predict(x, table["params"], table["tokens"])) - np.log(table["loss"])


def to_params(x) -> dict:
    with np.errstate(over="ignore"):  # a log A past float64's range is inf, and at_bound says so
        return {"E": float(np.exp(x[2])), "A": float(np.exp(x[0])), "B": float(np.exp(x[1])),
                "alpha": float(x[3]), "beta": float(x[4])}


def at_bound(x, table) -> list:
    """Names of the coefficients of x = [a, b, e, alpha, beta, ...] outside the plausible box."""
    out = [k for k, (lo, hi) in SOFT_BOX.items() if not lo < x[NAMES.index(k)] < hi]
    if np.exp(x[2]) < 1e-3 * table["loss"].min():  # E → 0: no irreducible loss found
        out.append("E")
    # log A or log B past float64's range: the data do not identify that term
    out += [k for k, i in (("A", 0), ("B", 1)) if x[i] > np.log(np.finfo(float).max)]
    return out


def allocation(p: dict, budgets) -> dict:
    """Compute-optimal split under C = 6ND (docs/fitting.md §1): a, b, G, N*(C), D*(C)."""
    al, be = p["alpha"], p["beta"]
    a, b = be / (al + be), al / (al + be)
    # in float64, not Python floats: a fit with a tiny α + β overflows G to inf (and a
    # negative exponent gives NaN, not a complex number) instead of raising
    with np.errstate(over="ignore", invalid="ignore"):
        G = float(np.float64(al * p["A"] / (be * p["B"])) ** (1.0 / (al + be)))
    out = {"a": a, "b": b, "G": G}
    for C in budgets:
        n = G * (C / 6.0) ** a
        d = (C / 6.0) ** b / G
        out[f"N_opt@{C:g}"] = n
        out[f"D_opt@{C:g}"] = d
        out[f"tokens_per_param@{C:g}"] = d / n
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

    E, A, B, al, be = (float(p[k]) for k in ("E", "A", "B", "alpha", "beta"))
    G = (al * A / (be * B)) ** (1.0 / (al + be))
    a, b = be / (al + be), al / (al + be)
    return {"N_star": PowerLaw(G * 6.0 ** -a, a), "D_star": PowerLaw(6.0 ** -b / G, b)}
