"""The data-constrained law: L = E + A/N'^α + B/D'^β with repeated data (docs/fitting.md §8).

Repeated tokens and parameters beyond what the unique data can use are
worth less than fresh ones, with exponentially decaying value:

    D' = U_D + U_D·R_D*·(1 − e^(−R_D/R_D*)),   R_D = D/U_D − 1   (0 when D ≤ U_D)
    N' = U_N + U_N·R_N*·(1 − e^(−R_N/R_N*)),   R_N = N/U_N − 1
    U_N = min(N, N_opt(U_D))

so D' = D for one epoch, D' → U_D·(1 + R_D*) for many, and dD'/dR_D = U_D
at R_D = 0 (a first repetition is worth as much as fresh data).

**N_opt(U_D)** is the compute-optimal size for U_D tokens under the base law
L = E + A/N^α + B/D^β.  At fixed C = 6·N·D, d ln D = −d ln N, so the optimum
has ∂L/∂ln N = ∂L/∂ln D, i.e. α·A·N^(−α) = β·B·D^(−β) (the closed-form
frontier of docs/fitting.md §1: N* = G·(C/6)^a, D* = (C/6)^b/G).  Solving for
N at D = U_D:

    N_opt(U_D) = (α·A / (β·B))^(1/α) · U_D^(β/α)

which is that frontier's N* at the budget whose D* is U_D.  A table column
``unique_params`` replaces it.

The fit is the Chinchilla fitter's (docs/fitting.md §5): Huber (δ = 1e-3) on
log-loss through a log-sum-exp with log-scaled coefficients, here also
R* = e^ρ; a multi-start grid (the Chinchilla grid, each start paired with
one of nine (ρ_D, ρ_N) starts), polished optima, an interior check and a bootstrap over runs
(``difflaws.fit.multistart``).  The base coefficients are fitted jointly by
default, or held at a given fit's (``base``: the JSON of a ``difflaws fit
--json`` of the base law; two stages, as the law was first fitted).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from difflaws.errors import UserError
from difflaws.fit import chinchilla, repetition
from difflaws.fit.identification import flag, record
from difflaws.fit.multistart import fit_surface

BASE = ("E", "A", "B", "alpha", "beta")
PARAMS = BASE + ("R_D_star", "R_N_star")
LOG_SCALE_STARTS = np.log([1.0, 7.0, 50.0])  # ρ starts: R* of 1, 7 and 50 epochs
LOG_SCALE_STARTS_FIXED_BASE = np.log(np.geomspace(0.3, 300.0, 7))
MIN_EXPONENT_START = 0.1  # N_opt needs α, β > 0: the grid's zero exponents start here
SCALE_BOX = (1e-2, 1e4)  # plausible R_D*, R_N* (epochs); outside: at_bound
HOLD_BASE = 1.0  # hyper[1]: the objective leaves the base coefficients where they start


def to_x(p: dict) -> np.ndarray:
    """[a, b, e, α, β, ρ_D, ρ_N] of a parameter dict."""
    return np.array([np.log(p["A"]), np.log(p["B"]), np.log(p["E"]), p["alpha"], p["beta"],
                     np.log(p["R_D_star"]), np.log(p["R_N_star"])], dtype=np.float64)


def to_params(x) -> dict:
    return {**chinchilla.to_params(x), "R_D_star": float(np.exp(x[5])),
            "R_N_star": float(np.exp(x[6]))}


def make_data(params, tokens, unique_tokens, loss, unique_params=None) -> np.ndarray:
    """Rows ln N, ln D, ln L, ln U_D (at most ln D: D ≤ U_D is no repetition), ln U_N (NaN:
    from the base law), of equal-length 1-d arrays."""
    lnD = np.log(np.asarray(tokens, float))
    lnUN = np.full(lnD.shape, np.nan) if unique_params is None else np.log(unique_params)
    return np.ascontiguousarray(np.stack([np.log(params), lnD, np.log(loss),
                                          np.minimum(np.log(unique_tokens), lnD), lnUN]),
                                dtype=np.float64)


def table_data(table) -> np.ndarray:
    return make_data(table["params"], table["tokens"], table["unique_tokens"], table["loss"],
                     table["unique_params"] if "unique_params" in table else None)


def predict(p: dict, params, tokens, unique_tokens, unique_params=None) -> np.ndarray:
    """L̂(N, D, U_D) for a parameter dict; arrays broadcast (U_D = inf: no repetition)."""
    N, D, U = np.broadcast_arrays(*(np.asarray(v, float) for v in (params, tokens,
                                                                     unique_tokens)))
    UN = None if unique_params is None else np.broadcast_to(unique_params, N.shape).ravel()
    data = make_data(N.ravel(), D.ravel(), U.ravel(), np.ones(N.size), UN)
    with np.errstate(over="ignore"):  # a far extrapolation is +inf, not a warning
        return np.exp(repetition.predict_log(to_x(p), data)).reshape(N.shape)


def effective_data_ratio(p: dict, epochs) -> np.ndarray:
    """D'/U_D after ``epochs`` passes over U_D unique tokens (1 + R_D*·(1 − e^(−R_D/R_D*)))."""
    R = np.atleast_1d(np.asarray(epochs, float)) - 1.0
    return repetition.effective_ratio(np.ascontiguousarray(R), float(np.log(p["R_D_star"])))


def optimal_params(p: dict, unique_tokens) -> np.ndarray:
    """N_opt(U_D) = (αA/(βB))^(1/α)·U_D^(β/α) of the base law (inf past float64's range:
    a small α raises to a large power)."""
    lnU = np.log(np.asarray(unique_tokens, float))
    with np.errstate(over="ignore"):
        return np.exp(log_optimal_params(p, lnU))


def log_optimal_params(p: dict, lnU) -> np.ndarray:
    """ln N_opt at ln U_D (any shape), as the objective computes it."""
    lnU = np.asarray(lnU, float)
    return repetition.log_optimal_params(to_x(p), np.atleast_1d(lnU).ravel()).reshape(lnU.shape)


def readoffs(p: dict, epochs) -> dict:
    """The effective-data value of repeating (D'/D at each of ``epochs``), the limits of
    D'/U_D and N'/U_N, and the base law's allocation a, b, G."""
    ratio = effective_data_ratio(p, epochs)
    out = {f"effective_data@{e:g}_epochs": float(r / e) for e, r in zip(epochs, ratio)}
    out["effective_data_limit"] = 1.0 + p["R_D_star"]
    out["effective_params_limit"] = 1.0 + p["R_N_star"]
    return {**out, **chinchilla.allocation(p, ())}


def read_base(path) -> dict:
    """The base coefficients E, A, B, alpha, beta of a ``difflaws fit --json`` file."""
    where = f"-o base={path}"
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"{where}: cannot read ({exc.strerror or exc}); give the JSON written "
                        "by `difflaws fit SOURCE --law chinchilla --json`") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise UserError(f"{where}: not JSON ({exc}); give the JSON written by "
                        "`difflaws fit SOURCE --law chinchilla --json`") from None
    params = doc.get("params") if isinstance(doc, dict) else None
    try:
        base = {k: float(params[k]) for k in BASE}
    except (TypeError, KeyError, ValueError):
        raise UserError(f"{where}: no params {', '.join(BASE)} in it; give the JSON of one "
                        "base-law fit, `difflaws fit SOURCE --law chinchilla --json` (without "
                        "--by)") from None
    if not all(np.isfinite(v) and v > 0 for v in base.values()):
        raise UserError(f"{where}: the base coefficients must be positive numbers, got {base}")
    return base


class DataConstrainedFitter:
    """Built by the data-constrained fitter config; ``fit(table) -> FitResult``."""

    def __init__(self, config, law: str):
        self.config = config
        self.law = law

    def fit(self, table):
        from difflaws.fit.resample import need_points
        from difflaws.fit.table import check_positive

        cfg = self.config
        if cfg.points == "final" and "run" in table and "step" in table:
            from difflaws.fit.runs import final_points

            table = final_points(table)  # the law is of final losses, one per run
        table = table.drop_highest(cfg.drop_highest)
        table.require("params", "tokens", "loss")
        table.require("unique_tokens", hint="the data-constrained law needs the distinct "
                      "training tokens of each point: add a unique_tokens (or epochs) column, "
                      "or fit a results DB whose runs recorded them")
        for name in ("unique_tokens", "unique_params"):
            if name in table:
                check_positive(table, name)
        need_points(table, 8, "the data-constrained law (7 coefficients)")
        chinchilla.check_grid(table)
        unique = np.minimum(table["unique_tokens"], table["tokens"])
        if not np.any(table["tokens"] > unique * (1 + 1e-9)):
            raise UserError(f"{table.source}: no point repeats data (tokens > unique_tokens "
                            "nowhere), so R_D* is not identified; add repeated-epoch runs, or "
                            "fit --law chinchilla")
        data = table_data(table)
        options = {"delta": cfg.delta, "grid": cfg.grid, "points": cfg.points,
                   "drop_highest": cfg.drop_highest,
                   "bootstrap": cfg.bootstrap, "seed": cfg.seed, "base": cfg.base or "joint",
                   "compute_convention": "C = 6·N·D"}
        if cfg.base:
            fixed = read_base(cfg.base)
            starts = starts_with_fixed_base(fixed)
            hyper = np.array([cfg.delta, HOLD_BASE])
        else:
            fixed = None
            starts = joint_starts(cfg.grid)
            hyper = np.array([cfg.delta])
        result = fit_surface(self, table, data, starts, hyper, cfg, options)
        self._identification(result, data)
        if fixed is not None:  # held coefficients have no interval of their own
            for name in BASE + ("a", "b", "G"):
                result.ci.pop(name, None)
        boot = result.diagnostics.get("bootstrap")
        if boot is not None and cfg.keep_draws:
            draws = result.extra["samples"][:cfg.keep_draws]
            boot["draws"] = {"params": list(PARAMS),
                             "values": [[s[k] for k in PARAMS] for s in draws]}
        return result

    # the law's pieces of the shared fit (difflaws.fit.multistart.fit_surface)

    @staticmethod
    def to_params(x) -> dict:
        return to_params(x)

    def derived(self, params, table) -> dict:
        return readoffs(params, self.config.epochs)

    @staticmethod
    def at_bound(x, table) -> list:
        lo, hi = SCALE_BOX
        return chinchilla.at_bound(x, table) + [
            k for k, i in (("R_D_star", 5), ("R_N_star", 6)) if not lo < np.exp(x[i]) < hi]

    @staticmethod
    def bounds(table) -> dict:
        return {**chinchilla.bounds(table), "R_D_star": SCALE_BOX, "R_N_star": SCALE_BOX}

    @staticmethod
    def residuals(x, table) -> np.ndarray:
        data = table_data(table)
        return repetition.predict_log(x, data) - data[2]

    def _identification(self, result, data) -> None:
        """R* is pinned down only by data that repeat past it (docs/fitting.md §8)."""
        p = result.params
        lnN, lnD, lnUD, lnUN = data[0], data[1], data[3], data[4]
        R_D = np.exp(lnD - lnUD) - 1.0
        base_UN = log_optimal_params(p, lnUD)
        R_N = np.exp(lnN - np.minimum(lnN, np.where(np.isnan(lnUN), base_UN, lnUN))) - 1.0
        weak = [name for name, R in (("R_D_star", R_D), ("R_N_star", R_N))
                if R.max() < p[name]]
        d = result.diagnostics
        d["max_repeated_epochs"] = float(R_D.max())
        d["max_excess_params"] = float(R_N.max())
        d["weakly_identified"] = weak
        d["interior"] = bool(d["interior"] and not weak)
        seen = {"R_D_star": (R_D.max(), "repeated epochs"),
                "R_N_star": (R_N.max(), "excess-parameter ratio")}
        record(d, [flag(name, "not identified", f"{name} = {p[name]:.4g} but the data reach "
                        f"at most {seen[name][0]:.3g} {seen[name][1]}: only data repeating "
                        "past R* pin it down", None, result.ci.get(name)) for name in weak])


def joint_starts(grid: str) -> np.ndarray:
    """The Chinchilla grid (zero exponents lifted to 0.1), each start paired with one of the
    nine (ρ_D, ρ_N) starts in turn.

    Pairing instead of crossing keeps the grid as large as the base law's; the turn
    advances by one more every nine rows, so each (ρ_D, ρ_N) pair meets every (α, β)
    start of the grid, not just one.
    """
    base = chinchilla.hoffmann_grid() if grid == "hoffmann" else chinchilla.small_grid()
    base[:, 3:5] = np.maximum(base[:, 3:5], MIN_EXPONENT_START)
    base = np.unique(base, axis=0)
    rho = np.array(np.meshgrid(LOG_SCALE_STARTS, LOG_SCALE_STARTS, indexing="ij")).reshape(2, -1).T
    i = np.arange(len(base))
    turn = (i + i // len(rho)) % len(rho)
    return np.ascontiguousarray(np.hstack([base, rho[turn]]))


def starts_with_fixed_base(base: dict) -> np.ndarray:
    """The fixed base coefficients with a 7 × 7 grid of ρ_D, ρ_N starts."""
    x = to_x({**base, "R_D_star": 1.0, "R_N_star": 1.0})
    rho = np.array(np.meshgrid(LOG_SCALE_STARTS_FIXED_BASE, LOG_SCALE_STARTS_FIXED_BASE,
                               indexing="ij")).reshape(2, -1).T
    starts = np.repeat(x[None, :], len(rho), axis=0)
    starts[:, 5:] = rho
    return np.ascontiguousarray(starts)


def loss_model(result: dict, where: str):
    """A result's L(N, D, U) at its coefficients and its kept bootstrap draws."""
    from functools import partial

    from difflaws.interfaces.fitter import LossModel

    params = _coefficients(result.get("params"), where)
    boot = (result.get("diagnostics") or {}).get("bootstrap") or {}
    kept = boot.get("draws") or {}
    names, values = kept.get("params"), kept.get("values") or []
    level = boot.get("level", 0.95)
    if values and (not isinstance(names, list) or not all(n in names for n in PARAMS)
                   or not all(isinstance(v, list) and len(v) == len(names) for v in values)) \
            or not (isinstance(level, (int, float)) and 0 < level < 1):
        raise UserError(f"{where}: diagnostics.bootstrap is malformed; refit with "
                        "`difflaws fit ... --json` and keep the file as written")
    # a replicate that ran a coefficient off to overflow (written as null) carries no
    # usable law; the interval comes from the others
    draws = tuple(partial(predict, dict(zip(names, map(float, v)))) for v in values
                  if all(isinstance(x, (int, float)) and np.isfinite(x) and x > 0 for x in v))
    seen = (result.get("diagnostics") or {}).get("max_repeated_epochs")
    return LossModel(partial(predict, params), draws, float(level), "6P",
                     1.0 + float(seen) if isinstance(seen, (int, float)) else None)


def _coefficients(params, where: str) -> dict:
    try:
        p = {k: float(params[k]) for k in PARAMS}
    except (TypeError, KeyError, ValueError):
        raise UserError(f"{where}: needs params {', '.join(PARAMS)}; pass the JSON that "
                        "`difflaws fit --json` wrote for this law") from None
    if not all(np.isfinite(v) and v > 0 for v in p.values()):
        raise UserError(f"{where}: every coefficient must be a positive number, got {p}")
    return p
