"""Fitting a log-space loss surface: multi-start L-BFGS, interior checks, bootstrap over runs.

The recipe of docs/fitting.md §5, shared by every law whose objective is
``loss_surface.objective`` (``chinchilla``, ``data-constrained``):

* every start of a grid is screened with loose tolerances and the best
  distinct end points are polished tightly (§5.4);
* the optimum must have moved away from its start and sit inside the
  law's plausible box, else ``interior`` is false (§5.4);
* a bootstrap over runs refits every replicate from the polished optima
  with a real optimiser (§5.6), giving percentile intervals for the
  coefficients and for every derived read-off.

A law supplies the pieces that differ through a small model object (see
``fit_surface``).  Starts and replicates run in parallel (``prange``).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from difflaws.fit.identification import check, flag, record
from difflaws.fit.lbfgs import minimize

STOP_REASONS = {0: "gradient below tolerance", 1: "relative decrease below tolerance",
                2: "no further decrease possible (machine precision)",
                3: "iteration limit", 4: "diverged"}


@nb.njit(cache=True, parallel=True)
def fit_jobs(starts, job_start, weights, job_weight, data, hyper, max_iter, gtol, ftol):
    """Run one L-BFGS per job (start row × weight row), all in parallel."""
    J = job_start.size
    X = np.empty((J, starts.shape[1]))
    F = np.empty(J)
    iters = np.empty(J, np.int64)
    status = np.empty(J, np.int64)
    for j in nb.prange(J):
        x, f, it, st = minimize(starts[job_start[j]], data, weights[job_weight[j]],
                                hyper, max_iter, gtol, ftol)
        X[j] = x
        F[j] = f
        iters[j] = it
        status[j] = st
    return X, F, iters, status


def _hyper(delta) -> np.ndarray:
    """The objective's hyper-parameters: a bare δ, or the law's whole ``hyper`` array."""
    return np.ascontiguousarray(np.atleast_1d(np.asarray(delta, dtype=np.float64)))


def distinct(X, F, limit, tol=1e-3):
    """Indices of up to ``limit`` best end points that differ by more than ``tol``."""
    keep = []
    for j in np.argsort(F, kind="stable"):
        if not np.isfinite(F[j]):
            break
        if all(np.max(np.abs(X[j] - X[k])) > tol for k in keep):
            keep.append(int(j))
            if len(keep) == limit:
                break
    return keep


def multistart(data, starts, delta, *, polish=10, screen=(300, 1e-5, 1e-9),
               tight=(5000, 1e-9, 0.0)):
    """Screen every start, polish the best distinct end points.

    ``delta`` is the Huber δ, or the objective's whole ``hyper`` array.
    Returns a dict with the best x and f, the screened and polished arrays,
    and the index of the start whose polished end point won.
    """
    hyper = _hyper(delta)
    ones = np.ones((1, data.shape[1]))
    J = starts.shape[0]
    Xs, Fs, its, sts = fit_jobs(starts, np.arange(J), ones, np.zeros(J, np.int64), data, hyper,
                                *screen)
    pick = distinct(Xs, Fs, polish)
    if not pick:
        return None
    Xp, Fp, itp, stp = fit_jobs(Xs[pick], np.arange(len(pick)), ones,
                                np.zeros(len(pick), np.int64), data, hyper, *tight)
    order = np.argsort(Fp, kind="stable")
    best = int(order[0])
    return {"x": Xp[best], "f": float(Fp[best]), "start_index": pick[best],
            "screen_x": Xs, "screen_f": Fs, "screen_iters": its, "screen_status": sts,
            "polished_x": Xp[order], "polished_f": Fp[order], "polish_status": stp[order]}


def bootstrap(data, weights, starts, delta, *, tight=(2000, 1e-8, 1e-13)):
    """Refit every weight row (a bootstrap replicate) from every start; keep the best."""
    hyper = _hyper(delta)
    R, K = weights.shape[0], starts.shape[0]
    job_weight = np.repeat(np.arange(R), K)
    job_start = np.tile(np.arange(K), R)
    X, F, its, sts = fit_jobs(starts, job_start, weights, job_weight, data, hyper, *tight)
    F = F.reshape(R, K)
    X = X.reshape(R, K, starts.shape[1])
    best = np.argmin(np.where(np.isfinite(F), F, np.inf), axis=1)
    return X[np.arange(R), best], F[np.arange(R), best], sts.reshape(R, K)[np.arange(R), best]


def fit_quality(residuals, table) -> dict:
    """R² of log-loss and the spread of the log residuals log L̂ − log L."""
    r = np.asarray(residuals)
    y = np.log(table["loss"])
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return {"r2_log_loss": 1.0 - float(np.sum(r * r)) / ss_tot if ss_tot > 0 else float("nan"),
            "residual_std": float(np.std(r)),
            "residual_mad": float(np.median(np.abs(r - np.median(r))))}


def held_out(model, table, data, starts, hyper, x) -> dict:
    """In-sample and leave-one-run-out error in log loss: each fold is refitted from
    ``starts`` with its rows given weight 0, by the same jitted refit as a bootstrap."""
    from difflaws.fit.heldout import quality
    from difflaws.fit.resample import cluster_ids

    y = np.log(table["loss"])

    def fit(train):
        X, F, _ = bootstrap(data, train[None, :].astype(np.float64), starts, hyper)
        return X[0] if np.isfinite(F[0]) else None

    def predict(xf, test):
        return (model.residuals(xf, table) + y)[test]

    return quality(y, predict(x, np.ones(y.size, bool)), cluster_ids(table), fit, predict,
                   "log loss")


def _spread(values) -> float:
    """Standard deviation of the finite values (an overflowed coefficient is inf), or NaN."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    with np.errstate(over="ignore"):  # draws near float64's limit square to inf: unbounded
        return float(np.std(v)) if v.size else float("nan")


def fit_surface(model, table, data, starts, hyper, cfg, options: dict):
    """Fit ``model`` to ``table`` and return its ``FitResult``.

    ``model`` provides ``law`` (the result's label), ``to_params(x)``,
    ``derived(params, table)`` (read-offs, each number given an interval too),
    ``at_bound(x, table)`` (coefficients outside the plausible box),
    ``bounds(table)`` (that box per coefficient, for the identification
    warnings) and ``residuals(x, table)`` (log L̂ − log L).  ``cfg`` holds the fitter
    options ``delta, polish, reach_tol, bootstrap, bootstrap_starts, seed, ci``.
    The bootstrap parameter draws are kept in ``extra["samples"]``.
    """
    from difflaws.errors import UserError
    from difflaws.fit.resample import cluster_ids, interval, resample_weights
    from difflaws.fit.result import FitResult

    ms = multistart(data, starts, hyper, polish=cfg.polish)
    if ms is None:
        raise UserError(f"{table.source}: every start diverged; check the loss column")
    x, f = ms["x"], ms["f"]
    reach = ms["screen_f"] <= f + cfg.reach_tol * max(f, 1.0)
    moved = float(np.max(np.abs(x - starts[ms["start_index"]])))
    at_bound = model.at_bound(x, table)
    diagnostics = {
        "objective": f * cfg.delta,  # the plain Huber sum, comparable to Epoch's
        "objective_scaled": f,
        "n_points": len(table),
        "n_starts": int(len(starts)),
        "n_starts_at_best": int(reach.sum()),
        "distance_from_start": moved,
        "at_bound": at_bound,
        "interior": bool(moved > 1e-6 and not at_bound),
        "polish_stop": STOP_REASONS.get(int(ms["polish_status"][0]), "unknown"),
        "loss": f"huber(delta={cfg.delta:g}) on log-loss, summed",
        **fit_quality(model.residuals(x, table), table),
    }
    params = model.to_params(x)
    ci = {}
    derived = model.derived(params, table)
    samples = []
    # replicates and held-out folds refit from the distinct polished optima
    refit_starts = ms["polished_x"][distinct(ms["polished_x"], ms["polished_f"],
                                             cfg.bootstrap_starts)]
    diagnostics.update(held_out(model, table, data, refit_starts, hyper, x))
    if cfg.bootstrap > 0:
        rng = np.random.default_rng(cfg.seed)
        weights = resample_weights(cluster_ids(table), cfg.bootstrap, rng)
        Xb, Fb, _ = bootstrap(data, weights, refit_starts, hyper)
        ok = np.isfinite(Fb)
        samples = [model.to_params(xb) for xb in Xb[ok]]
        for name in params:
            ci[name] = interval([s[name] for s in samples], cfg.ci)
        derived_samples = [model.derived(s, table) for s in samples]
        for name, value in derived.items():
            if isinstance(value, float):  # not the extrapolation map
                ci[name] = interval([d[name] for d in derived_samples], cfg.ci)
        moved_off = np.max(np.abs(Xb[ok] - x), axis=1) > 1e-6
        diagnostics["bootstrap"] = {
            "replicates": int(cfg.bootstrap),
            "failed": int((~ok).sum()),
            # every replicate failed: no fraction and no spread, rather than numpy's warnings
            "moved_fraction": float(moved_off.mean()) if moved_off.size else float("nan"),
            "se": {n: _spread([s[n] for s in samples]) for n in params},
            "level": cfg.ci,
        }
    warnings = check(params, ci, model.bounds(table), exponents=("alpha", "beta"))
    if moved <= 1e-6:
        warnings.append(flag("all", "did not move", "the best fit is a start of the grid "
                             "itself: the optimiser made no progress from it"))
    record(diagnostics, warnings)
    return FitResult(law=model.law, params=params, ci=ci, derived=derived,
                     diagnostics=diagnostics, options=options,
                     extra={"x": x, "table": table, "samples": samples})
