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

The objective, its analytic gradient and the optimiser are numba-jitted,
and starts and replicates run in parallel (``prange``).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from difflaws.fit.lbfgs import minimize

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


@nb.njit(cache=True, parallel=True)
def fit_jobs(starts, job_start, weights, job_weight, data, hyper, max_iter, gtol, ftol):
    """Run one L-BFGS per job (start row × weight row), all in parallel."""
    J = job_start.size
    X = np.empty((J, 5))
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


def make_data(params, tokens, loss) -> np.ndarray:
    return np.ascontiguousarray(np.stack([np.log(params), np.log(tokens), np.log(loss)]))


def predict(x, params, tokens) -> np.ndarray:
    """L̂(N, D) for x = [a, b, e, alpha, beta] (works on arrays)."""
    a, b, e, al, be = x
    return np.exp(e) + np.exp(a - al * np.log(params)) + np.exp(b - be * np.log(tokens))


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

    Returns a dict with the best x and f, the screened and polished arrays,
    and the index of the start whose polished end point won.
    """
    hyper = np.array([delta])
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
    hyper = np.array([delta])
    R, K = weights.shape[0], starts.shape[0]
    job_weight = np.repeat(np.arange(R), K)
    job_start = np.tile(np.arange(K), R)
    X, F, its, sts = fit_jobs(starts, job_start, weights, job_weight, data, hyper, *tight)
    F = F.reshape(R, K)
    X = X.reshape(R, K, 5)
    best = np.argmin(np.where(np.isfinite(F), F, np.inf), axis=1)
    return X[np.arange(R), best], F[np.arange(R), best], sts.reshape(R, K)[np.arange(R), best]


# -- the fitter ------------------------------------------------------------

STOP_REASONS = {0: "gradient below tolerance", 1: "relative decrease below tolerance",
                2: "no further decrease possible (machine precision)",
                3: "iteration limit", 4: "diverged"}
SOFT_BOX = {"alpha": (1e-3, 3.0), "beta": (1e-3, 3.0)}


class ChinchillaFitter:
    """Built by the ``chinchilla`` fitter config; ``fit(table) -> FitResult``."""

    law = "chinchilla"

    def __init__(self, config):
        self.config = config

    def fit(self, table):
        from difflaws.fit.result import FitResult
        from difflaws.fit.resample import cluster_ids, interval, need_points, resample_weights
        from difflaws.errors import UserError

        cfg = self.config
        table = table.drop_highest(cfg.drop_highest)
        need_points(table, 8, "the chinchilla law L(N,D)")
        check_grid(table)
        data = make_data(table["params"], table["tokens"], table["loss"])
        starts = hoffmann_grid() if cfg.grid == "hoffmann" else small_grid()
        ms = multistart(data, starts, cfg.delta, polish=cfg.polish)
        if ms is None:
            raise UserError(f"{table.source}: every start diverged; check the loss column")
        x, f = ms["x"], ms["f"]
        reach = ms["screen_f"] <= f + cfg.reach_tol * max(f, 1.0)
        moved = float(np.max(np.abs(x - starts[ms["start_index"]])))
        at_bound = [k for k, (lo, hi) in SOFT_BOX.items()
                    if not lo < x[NAMES.index(k)] < hi]
        if np.exp(x[2]) < 1e-3 * table["loss"].min():  # E → 0: no irreducible loss found
            at_bound.append("E")
        # log A or log B past float64's range: the data do not identify that term
        at_bound += [k for k, i in (("A", 0), ("B", 1)) if x[i] > np.log(np.finfo(float).max)]
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
            **fit_quality(x, table),
        }
        params = to_params(x)
        ci = {}
        derived = allocation(params, cfg.budgets)
        if cfg.bootstrap > 0:
            rng = np.random.default_rng(cfg.seed)
            weights = resample_weights(cluster_ids(table), cfg.bootstrap, rng)
            boot_starts = ms["polished_x"][distinct(ms["polished_x"], ms["polished_f"],
                                                    cfg.bootstrap_starts)]
            Xb, Fb, _ = bootstrap(data, weights, boot_starts, cfg.delta)
            ok = np.isfinite(Fb)
            samples = [to_params(xb) for xb in Xb[ok]]
            for name in params:
                ci[name] = interval([s[name] for s in samples], cfg.ci)
            derived_samples = [allocation(s, cfg.budgets) for s in samples]
            for name in derived:
                ci[name] = interval([d[name] for d in derived_samples], cfg.ci)
            diagnostics["bootstrap"] = {
                "replicates": int(cfg.bootstrap),
                "failed": int((~ok).sum()),
                "moved_fraction": float(np.mean(np.max(np.abs(Xb[ok] - x), axis=1) > 1e-6)),
                "se": {n: float(np.std([s[n] for s in samples])) for n in params},
                "level": cfg.ci,
            }
        return FitResult(
            law=self.law, params=params, ci=ci, derived=derived, diagnostics=diagnostics,
            options={"delta": cfg.delta, "grid": cfg.grid, "drop_highest": cfg.drop_highest,
                     "bootstrap": cfg.bootstrap, "seed": cfg.seed,
                     "compute_convention": "C = 6·N·D"},
            extra={"x": x, "table": table})


def to_params(x) -> dict:
    return {"E": float(np.exp(x[2])), "A": float(np.exp(x[0])), "B": float(np.exp(x[1])),
            "alpha": float(x[3]), "beta": float(x[4])}


def allocation(p: dict, budgets) -> dict:
    """Compute-optimal split under C = 6ND (docs/fitting.md §1): a, b, G, N*(C), D*(C)."""
    al, be = p["alpha"], p["beta"]
    a, b = be / (al + be), al / (al + be)
    G = (al * p["A"] / (be * p["B"])) ** (1.0 / (al + be))
    out = {"a": a, "b": b, "G": G}
    for C in budgets:
        n = G * (C / 6.0) ** a
        d = (C / 6.0) ** b / G
        out[f"N_opt@{C:g}"] = n
        out[f"D_opt@{C:g}"] = d
        out[f"tokens_per_param@{C:g}"] = d / n
    return out


def fit_quality(x, table) -> dict:
    r = np.log(predict(x, table["params"], table["tokens"])) - np.log(table["loss"])
    y = np.log(table["loss"])
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return {"r2_log_loss": 1.0 - float(np.sum(r * r)) / ss_tot if ss_tot > 0 else float("nan"),
            "residual_std": float(np.std(r)),
            "residual_mad": float(np.median(np.abs(r - np.median(r))))}


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
