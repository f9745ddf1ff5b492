"""Per-run loss curves L(S) = C₀ + B₀·S^(−b), and isoFLOP points read off them.

A constant-LR run visits every compute budget on its way, so one run gives
a loss at many budgets (docs/theory.md §6.1): fit the curve for S ≥ ``min_step``,
turn a budget C into tokens D = C / (FLOPs per token), and evaluate the
fit there.  Both FLOP conventions are supported: ``M`` (the run's
``flops_per_token_M``, attention included) and ``6P`` (``flops_per_token_6P``,
or 6·params).

The fit uses variable projection: for a fixed exponent b the model is
linear in (C₀, B₀), solved exactly; a bounded 1-D search over b does the
rest.  No starting values, no silent return of an initial guess.
"""

from __future__ import annotations

import numpy as np

from difflaws.fit.identification import check, record
from difflaws.fit.table import PointTable
from difflaws.errors import UserError

CONVENTIONS = {"M": "flops_per_token_M", "6P": "flops_per_token_6P"}
B_RANGE = (1e-3, 5.0)


def _linear(x_pow, y):
    """Least-squares (C₀, B₀) for y ≈ C₀ + B₀·x_pow, and the residual sum of squares."""
    X = np.column_stack([np.ones_like(x_pow), x_pow])
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    r = y - X @ coef
    return coef, float(r @ r)


def fit_curve(s, loss):
    """Fit L(S) = C₀ + B₀·S^(−b); returns dict(C0, B0, b, r2)."""
    from scipy.optimize import minimize_scalar

    s = np.asarray(s, float)
    loss = np.asarray(loss, float)
    scale = np.exp(np.mean(np.log(s)))  # S/scale keeps S^(−b) near 1

    def sse(logb):
        return _linear((s / scale) ** (-np.exp(logb)), loss)[1]

    grid = np.linspace(np.log(B_RANGE[0]), np.log(B_RANGE[1]), 41)
    k = int(np.argmin([sse(g) for g in grid]))
    lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]
    res = minimize_scalar(sse, bounds=(lo, hi), method="bounded",
                          options={"xatol": 1e-10})
    b = float(np.exp(res.x))
    (c0, b0), rss = _linear((s / scale) ** (-b), loss)
    tss = float(np.sum((loss - loss.mean()) ** 2))
    return {"C0": float(c0), "B0": float(b0 * scale ** b), "b": b,
            "r2": 1.0 - rss / tss if tss > 0 else float("nan"),
            "at_bound": bool(b <= B_RANGE[0] * 1.01 or b >= B_RANGE[1] * 0.99)}


def curve_loss(fit, s):
    return fit["C0"] + fit["B0"] * np.asarray(s, float) ** (-fit["b"])


def flops_per_token(sub, convention: str) -> float:
    col = CONVENTIONS.get(convention)
    if col is None:
        raise UserError(f"unknown FLOP convention {convention!r}; use 'M' or '6P'")
    if col in sub:
        return float(sub[col][0])
    if convention == "6P" and "params" in sub:
        return 6.0 * float(sub["params"][0])
    raise UserError(f"{sub.source}: convention {convention} needs a {col!r} column "
                    "(from the run's summary.json) or, for 6P, 'params'")


def carried_columns(table) -> list[str]:
    """Per-run sweep coordinates copied onto every point read off that run's curve."""
    return [c for c in ("batch_size", "lr", "noise") if c in table]


def curve_axis(sub) -> np.ndarray:
    """The S of a run's curve L(S): its tokens, else its steps."""
    return sub["tokens"] if "tokens" in sub else sub["step"]


def fit_runs(table, min_step: float = 0.0):
    """Fit every run's curve; returns [(run_id, subtable, fit)] for runs with ≥ 4 points
    (the subtable holds the fitted rows)."""
    out = []
    for run, sub in table.groups("run"):
        keep = (sub["step"] if "step" in sub else curve_axis(sub)) >= min_step
        sub = sub.select(keep)
        if len(sub) < 4:
            continue
        out.append((run, sub, fit_curve(curve_axis(sub), sub["loss"])))
    if not out:
        raise UserError(f"{table.source}: no run has 4 or more loss-curve points after step "
                        f"{min_step:g}; log more often or lower min_step")
    return out


def isoflop_points(table, budgets=(), convention: str = "M", n_budgets: int = 12,
                   min_step: float = 0.0, runs=None):
    """Turn loss curves into one row per (run, budget) that the run's range covers;
    ``runs`` is ``fit_runs(table, min_step)`` when the caller has it already."""
    if "tokens" not in table:
        raise UserError(f"{table.source}: loss curves need a 'tokens' column")
    fits = runs if runs is not None else fit_runs(table, min_step)
    spans = []
    for run, sub, fit in fits:
        fpt = flops_per_token(sub, convention)
        spans.append((run, sub, fit, fpt, sub["tokens"].min() * fpt, sub["tokens"].max() * fpt))
    if budgets:
        budgets = np.asarray(sorted(budgets), float)
        lo, hi = min(s[4] for s in spans), max(s[5] for s in spans)
        outside = [c for c in budgets if not lo <= c <= hi]
        if outside:
            raise UserError(f"{table.source}: budget(s) {', '.join(f'{c:g}' for c in outside)} "
                            f"outside every run's range ({lo:.3g}–{hi:.3g} FLOPs, convention "
                            f"{convention}); pick budgets inside it")
    else:
        lo = np.median([s[4] for s in spans])
        hi = np.max([s[5] for s in spans])
        budgets = np.geomspace(lo, hi, n_budgets)
    extra_cols = carried_columns(table)
    cols = {k: [] for k in ("run", "params", "tokens", "flops", "budget", "loss", *extra_cols)}
    for run, sub, fit, fpt, cmin, cmax in spans:
        for C in budgets:
            if not cmin <= C <= cmax:
                continue
            D = C / fpt
            cols["run"].append(str(run))
            cols["params"].append(float(sub["params"][0]))
            cols["tokens"].append(D)
            cols["flops"].append(C)
            cols["budget"].append(C)
            cols["loss"].append(float(curve_loss(fit, D)))
            for c in extra_cols:
                cols[c].append(sub[c][0])
    info = {"convention": convention, "runs_fitted": len(fits),
            "budgets": [float(c) for c in budgets],
            "fits": [{"run": str(r), **f} for r, _, f in fits]}
    return PointTable(cols, source=table.source), info


def isoloss_points(table, targets=(), n_targets: int = 8, min_step: float = 0.0):
    """One row per (run, target loss) the run reaches: tokens D needed for that loss.

    Inverts the fitted curve, D = (B₀/(L − C₀))^(1/b), within the run's logged
    range only.  Default targets: ``n_targets`` losses spread between the
    median final loss and the median first-fitted loss of the runs.
    """
    fits = fit_runs(table, min_step)
    if not len(targets):
        first = np.median([curve_loss(f, sub["tokens"].min()) for _, sub, f in fits])
        last = np.median([curve_loss(f, sub["tokens"].max()) for _, sub, f in fits])
        targets = np.linspace(last, first, n_targets + 2)[1:-1]
    extra_cols = carried_columns(table)
    cols = {k: [] for k in ("run", "params", "tokens", "loss", *extra_cols)}
    for run, sub, fit in fits:
        lo, hi = sub["tokens"].min(), sub["tokens"].max()
        for L in targets:
            if not L > fit["C0"] or fit["B0"] <= 0:
                continue
            # in logs: a small b raises to a large power, past float64's range
            lnD = (np.log(fit["B0"]) - np.log(L - fit["C0"])) / fit["b"]
            if not np.log(lo) <= lnD <= np.log(hi):
                continue
            D = float(np.exp(lnD))
            cols["run"].append(str(run))
            cols["params"].append(float(sub["params"][0]))
            cols["tokens"].append(D)
            cols["loss"].append(float(L))
            for c in extra_cols:
                cols[c].append(sub[c][0])
    if not cols["run"]:
        raise UserError(f"{table.source}: no run reaches any of the target losses "
                        f"{', '.join(f'{t:.4g}' for t in targets)} inside its logged range")
    return PointTable(cols, source=table.source)


def held_out_curves(runs) -> dict:
    """In-sample error of the fitted curves and their leave-one-point-out error, in loss.

    A run's curve has coefficients of its own, so no other run predicts it: a
    held-out fold is one point of one curve, and only that curve is refitted."""
    from difflaws.fit.heldout import quality

    which = np.concatenate([np.full(len(sub), i) for i, (_, sub, _) in enumerate(runs)])
    s = np.concatenate([curve_axis(sub) for _, sub, _ in runs])
    loss = np.concatenate([sub["loss"] for _, sub, _ in runs])
    fitted = np.concatenate([curve_loss(f, curve_axis(sub)) for _, sub, f in runs])

    def fit(train):
        rows = (which == which[~train][0]) & train
        return fit_curve(s[rows], loss[rows])

    return quality(loss, fitted, np.arange(s.size), fit,
                   lambda f, test: curve_loss(f, s[test]), "loss")


class CurvesFitter:
    """Built by the ``curves`` fitter config."""

    law = "curves"

    def __init__(self, config):
        self.config = config

    def fit(self, table):
        from difflaws.fit.result import FitResult

        cfg = self.config
        if "run" not in table:
            raise UserError(f"{table.source}: the curves law needs a 'run' column with several "
                            "(step or tokens, loss) rows per run")
        runs = fit_runs(table, cfg.min_step) if "tokens" in table else None
        points, info = isoflop_points(table, cfg.budgets, cfg.convention, cfg.n_budgets,
                                      cfg.min_step, runs)
        fits = info.pop("fits")
        b = np.array([f["b"] for f in fits])
        diagnostics = {**info, "median_b": float(np.median(b)),
                       "min_r2": float(min(f["r2"] for f in fits)),
                       "at_bound": [f["run"] for f in fits if f["at_bound"]],
                       "n_points": len(points),
                       **held_out_curves(runs)}
        # a loss floor below zero is no floor; b is searched in B_RANGE
        record(diagnostics, [w for f in fits for w in check(
            {"C0": f["C0"], "b": f["b"]}, {}, {"C0": (0.0, None), "b": B_RANGE},
            prefix=f"{f['run']}.")])
        return FitResult(law=self.law, params={f["run"]: {k: f[k] for k in ("C0", "B0", "b")}
                                               for f in fits},
                         diagnostics=diagnostics,
                         options={"convention": cfg.convention, "min_step": cfg.min_step},
                         extra={"points": points, "table": table, "fits": fits})
