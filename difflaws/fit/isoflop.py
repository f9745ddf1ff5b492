"""IsoFLOP profiles (Chinchilla Approach 2, the paper's "sq" method).

Per compute budget: keep the best (batch, LR) run per model size, fit a
quadratic to log L against log N (and, separately, against log D) across
sizes, and read the vertex as N*, D*, L*.  The vertex must be a minimum
(positive curvature) inside the sampled size range; a budget that fails is
an error by default, or dropped with ``edge = "drop"`` (Porian et al. drop
them too).  Then N*(C), D*(C), L*(C) are fitted as power laws with bootstrap
intervals.
"""

from __future__ import annotations

import numpy as np

from difflaws.fit.identification import record
from difflaws.fit.powerlaw import fit_power_law
from difflaws.errors import UserError

FRONTIERS = (("N_star", "params"), ("D_star", "tokens"), ("L_star", "loss"))
QUALITY = ("r2", "rmse", "loo_r2", "loo_rmse", "loo_folds", "loo_failed", "error_space")


def budget_column(table) -> np.ndarray:
    """The budget each row belongs to: ``budget`` if given, else flops to 3 digits."""
    if "budget" in table:
        return table["budget"]
    flops = table["flops"]
    return np.array([float(f"{c:.3g}") for c in flops])


def best_per_size(sub):
    """(params, tokens, loss) of the lowest-loss row per model size."""
    sizes = np.unique(sub["params"])
    N, D, L = [], [], []
    for n in sizes:
        rows = np.flatnonzero(sub["params"] == n)
        j = rows[np.argmin(sub["loss"][rows])]
        N.append(n)
        D.append(sub["tokens"][j])
        L.append(sub["loss"][j])
    return np.array(N), np.array(D), np.array(L)


def vertex(u, y):
    """Quadratic y = c0 + c1·u + c2·u² by least squares; returns (u*, y*, c2, coeffs)."""
    c2, c1, c0 = np.polyfit(u, y, 2)
    if not c2 > 0:
        return np.nan, np.nan, c2, (c2, c1, c0)
    us = -c1 / (2.0 * c2)
    return us, c0 + c1 * us + c2 * us * us, c2, (c2, c1, c0)


def budget_optima(table, edge: str = "error", min_sizes: int = 3):
    """One optimum per budget, with the per-budget curves kept for plots."""
    budgets = budget_column(table)
    out, dropped = [], []
    for C in np.unique(budgets):
        sub = table.select(budgets == C)
        N, D, L = best_per_size(sub)
        if N.size < min_sizes:
            dropped.append((float(C), f"only {N.size} model sizes (need {min_sizes})"))
            continue
        uN, uD, y = np.log(N), np.log(D), np.log(L)
        nstar, lstar, curv, coefN = vertex(uN, y)
        dstar, _, curvD, coefD = vertex(uD, y)
        problem = None
        if not curv > 0 or not curvD > 0:
            problem = "the isoFLOP curve is not convex (no minimum)"
        elif not (uN.min() < nstar < uN.max()) or not (uD.min() < dstar < uD.max()):
            problem = (f"the optimum lies at or beyond the edge of the size grid "
                       f"(N* ≈ {np.exp(nstar):.3g}, sizes {N.min():.3g}–{N.max():.3g})")
        if problem:
            dropped.append((float(C), problem))
            continue
        out.append({"budget": float(C), "N_star": float(np.exp(nstar)),
                    "D_star": float(np.exp(dstar)), "L_star": float(np.exp(lstar)),
                    "curvature": float(curv), "coef_logN": [float(c) for c in coefN],
                    "sizes": N, "tokens": D, "losses": L})
    if dropped and edge == "error":
        lines = "; ".join(f"budget {c:g}: {why}" for c, why in dropped)
        raise UserError(f"{table.source}: {lines}. Add sizes around the optimum, or pass "
                        "-o edge=drop to skip such budgets")
    return out, dropped


class IsoFlopFitter:
    """Built by the ``isoflop`` fitter config."""

    law = "isoflop"

    def __init__(self, config):
        self.config = config

    def fit(self, table):
        from difflaws.fit.curves import isoflop_points
        from difflaws.fit.table import is_curve_table
        from difflaws.fit.result import FitResult

        cfg = self.config
        curve_info = None
        if is_curve_table(table):
            table, curve_info = isoflop_points(table, cfg.budgets, cfg.convention,
                                               n_budgets=cfg.n_budgets, min_step=cfg.min_step)
        table.require("params", "tokens", "loss")
        optima, dropped = budget_optima(table, cfg.edge)
        if len(optima) < 3:
            why = "; ".join(f"{c:g}: {w}" for c, w in dropped)
            raise UserError(f"{table.source}: isoflop needs at least 3 budgets with an interior "
                            f"optimum, got {len(optima)}" + (f" (dropped {why})" if why else ""))
        C = np.array([o["budget"] for o in optima])
        params, ci, samples, diagnostics = {}, {}, {}, {"n_budgets": len(optima),
                                           "dropped_budgets": dropped,
                                           "interior": True}
        warnings = []
        for name, _ in FRONTIERS:
            y = np.array([o[name] for o in optima])
            p, c, d, samples[name] = fit_power_law(C, y, delta=cfg.delta, bootstrap=cfg.bootstrap,
                                       seed=cfg.seed, level=cfg.ci, source=table.source,
                                       what=name, prefix=f"{name}.")
            params[name], ci[name] = p, c
            warnings += d["warnings"]
            # one error per law (a held-out fold is one budget's optimum)
            diagnostics[name] = {k: d[k] for k in ("r2_log", "residual_std", "residual_mad",
                                                   "bootstrap", *QUALITY) if k in d}
        record(diagnostics, warnings)
        optimum_table = [{k: o[k] for k in ("budget", "N_star", "D_star", "L_star")}
                         for o in optima]
        if curve_info:
            diagnostics["curves"] = curve_info
        return FitResult(law=self.law, params=params, ci=ci, diagnostics=diagnostics,
                         derived={"optima": optimum_table},
                         options={"edge": cfg.edge, "bootstrap": cfg.bootstrap, "seed": cfg.seed,
                                  # a CSV's flops are used as given; curves use a convention
                                  **({"convention": cfg.convention} if curve_info else {})},
                         extra={"optima": optima, "table": table, "samples": samples})
