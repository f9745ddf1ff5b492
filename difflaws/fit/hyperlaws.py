"""Optimal batch size B*(D) and learning rate η*(B) as power laws (docs/theory.md §6.4).

Both follow the same two steps: inside each group of runs, a quadratic in
log-log space locates an interior optimum (positive curvature, vertex within
the sampled range; other groups are dropped and listed); then the optima are
fitted as a power law with bootstrap intervals.

* ``batchsize``: a group is (model size, target loss); rows give D, the tokens
  needed to reach that loss at batch B (tokens).  The vertex of log D vs
  log B gives B* and D*, and B* = A·D*^α.
* ``lr``: a group is (model size, batch size, budget or tokens); rows give the
  loss at each LR.  The vertex of log L vs log η gives η*, and η* = A·B^α.
"""

from __future__ import annotations

import numpy as np

from difflaws.fit.isoflop import vertex
from difflaws.fit.powerlaw import fit_power_law
from difflaws.errors import UserError


def _key(values) -> tuple:
    return tuple(float(f"{v:.4g}") if isinstance(v, float) else v for v in values)


def group_optima(table, keys, x_col, y_col, min_points=3):
    """Per group of ``keys``: vertex of log y vs log x.  Returns (kept, dropped)."""
    cols = [table[k] for k in keys]
    groups = {}
    for i in range(len(table)):  # rounded keys absorb float noise in the sweep's grid
        groups.setdefault(_key(c[i] for c in cols), []).append(i)
    kept, dropped = [], []
    for key, rows in sorted(groups.items(), key=lambda kv: str(kv[0])):
        rows = np.array(rows)
        x, y = table[x_col][rows], table[y_col][rows]
        xs = np.unique(x)
        if xs.size < min_points:
            dropped.append((key, f"only {xs.size} distinct {x_col} values"))
            continue
        # the best y per x (other sweep axes, e.g. LR within a batch size, are optimised out)
        yb = np.array([y[x == v].min() for v in xs])
        u, v = np.log(xs), np.log(yb)
        us, vs, curv, _ = vertex(u, v)
        if not curv > 0:
            dropped.append((key, "no minimum (curvature not positive)"))
        elif not u.min() < us < u.max():
            dropped.append((key, f"optimum at the edge of the {x_col} grid"))
        else:
            kept.append({"key": {k: c[rows[0]] for k, c in zip(keys, cols)},
                         "x_star": float(np.exp(us)),
                         "y_star": float(np.exp(vs)), "x": xs, "y": yb})
    return kept, dropped


class _HyperLawFitter:
    law = ""

    def __init__(self, config):
        self.config = config

    def _fit(self, table, keys, x_col, y_col, law_x, law_y, what):
        from difflaws.fit.result import FitResult

        cfg = self.config
        kept, dropped = group_optima(table, keys, x_col, y_col)
        if len(kept) < 3:
            why = "; ".join(f"{k}: {w}" for k, w in dropped[:5])
            raise UserError(f"{table.source}: {self.law} needs at least 3 groups with an interior "
                            f"optimum, got {len(kept)}" + (f" ({why})" if why else "")
                            + f"; widen the {x_col} grid around the optimum")
        X = np.array([law_x(o) for o in kept])
        Y = np.array([law_y(o) for o in kept])
        params, ci, diag, samples = fit_power_law(
            X, Y, delta=cfg.delta, bootstrap=cfg.bootstrap, seed=cfg.seed, level=cfg.ci,
            source=table.source, what=what)
        diag.update({"groups_used": len(kept), "groups_dropped": len(dropped),
                     "dropped": [[str(k), w] for k, w in dropped]})
        return FitResult(law=self.law, params=params, ci=ci, diagnostics=diag,
                         derived={"optima": [{**o["key"], x_col + "_star": o["x_star"],
                                              y_col + "_at_star": o["y_star"]} for o in kept]},
                         options={"bootstrap": cfg.bootstrap, "seed": cfg.seed},
                         extra={"x": X, "y": Y, "samples": samples, "optima": kept})


class BatchSizeFitter(_HyperLawFitter):
    """B*(D): per (size, target loss), the batch minimising tokens-to-target."""

    law = "batchsize"

    def fit(self, table):
        from difflaws.fit.curves import isoloss_points
        from difflaws.fit.table import is_curve_table

        if is_curve_table(table):
            table = isoloss_points(table, self.config.targets, self.config.n_targets,
                                   self.config.min_step)
        table.require("batch_size", "tokens", "loss")
        keys = [k for k in ("params", "loss") if k in table]
        return self._fit(table, keys, "batch_size", "tokens",
                         law_x=lambda o: o["y_star"], law_y=lambda o: o["x_star"],
                         what="B*(D)")


class LearningRateFitter(_HyperLawFitter):
    """η*(B): per (size, batch, budget), the LR minimising the loss."""

    law = "lr"

    def fit(self, table):
        from difflaws.fit.curves import isoflop_points
        from difflaws.fit.table import is_curve_table

        cfg = self.config
        if is_curve_table(table):
            table, _ = isoflop_points(table, cfg.budgets, cfg.convention, cfg.n_budgets,
                                      cfg.min_step)
        table.require("lr", "batch_size", "loss")
        at = "budget" if "budget" in table else "tokens"
        keys = [k for k in ("params", "batch_size", at) if k in table]
        return self._fit(table, keys, "lr", "loss",
                         law_x=lambda o: o["key"]["batch_size"], law_y=lambda o: o["x_star"],
                         what="eta*(B)")
