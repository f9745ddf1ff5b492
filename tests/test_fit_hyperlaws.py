"""B*(D) and η*(B) laws: per-group parabola vertices, then power laws (docs/theory.md §6.4)."""

from __future__ import annotations

import numpy as np
import pytest

from difflaws.fit import PointTable, fit
from difflaws.errors import UserError

# the paper's global laws, used as ground truth for synthetic sweeps
B_LAW = (10 ** -2.4, 0.8225)
LR_LAW = (10 ** -2.06, 0.3412)


def batch_table(d_stars, width=1.2, k=0.15, shift=0.0):
    """Tokens-to-target D(B) = D*·exp(k·(ln B − ln B*)²) on a log grid of batches."""
    cols = {"params": [], "loss": [], "batch_size": [], "tokens": []}
    for i, Ds in enumerate(d_stars):
        Bs = B_LAW[0] * Ds ** B_LAW[1]
        for u in np.linspace(-width, width, 7) + shift:
            cols["params"].append(1e8)
            cols["loss"].append(3.0 + 0.1 * i)  # one target loss per group
            cols["batch_size"].append(Bs * np.exp(u))
            cols["tokens"].append(Ds * np.exp(k * u * u))
    return PointTable(cols, source="isoloss.csv")


def test_batchsize_law_recovered():
    res = fit("batchsize", batch_table(np.geomspace(1e9, 1e11, 6)), bootstrap=200)
    assert res.params["alpha"] == pytest.approx(B_LAW[1], abs=1e-6)
    assert res.params["A"] == pytest.approx(B_LAW[0], rel=1e-4)
    assert res.diagnostics["groups_used"] == 6


def test_batchsize_groups_without_interior_minimum_are_dropped_or_refused():
    good = batch_table(np.geomspace(1e9, 1e11, 4))
    edge = batch_table([3e11], shift=3.0)  # every batch far above B*
    edge.columns["loss"] = edge["loss"] + 1.0
    cols = {k: np.concatenate([good[k], edge[k]]) for k in good.columns}
    res = fit("batchsize", PointTable(cols), bootstrap=0)
    assert res.diagnostics["groups_used"] == 4 and res.diagnostics["groups_dropped"] == 1
    assert "edge" in res.diagnostics["dropped"][0][1]
    with pytest.raises(UserError, match="at least 3 groups"):
        fit("batchsize", batch_table([1e9, 1e10]), bootstrap=0)


def test_lr_law_recovered():
    """Loss(η) = L₀·exp(0.05·(ln η − ln η*)²) per (size, batch), η* = 10^−2.06·B^0.3412."""
    cols = {"params": [], "batch_size": [], "budget": [], "lr": [], "loss": []}
    for B in np.geomspace(1.6e4, 2e6, 6):
        eta = LR_LAW[0] * B ** LR_LAW[1]
        for u in np.linspace(-1.0, 1.0, 5):
            cols["params"].append(2e8)
            cols["batch_size"].append(B)
            cols["budget"].append(1e19)
            cols["lr"].append(eta * np.exp(u))
            cols["loss"].append(2.9 * np.exp(0.05 * u * u))
    res = fit("lr", PointTable(cols), bootstrap=200)
    assert res.params["alpha"] == pytest.approx(LR_LAW[1], abs=1e-6)
    assert res.params["A"] == pytest.approx(LR_LAW[0], rel=1e-4)
