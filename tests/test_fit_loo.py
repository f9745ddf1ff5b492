"""In-sample and leave-one-run-out error of the fitters (difflaws.fit.heldout)."""

from __future__ import annotations

import numpy as np
import pytest

from difflaws.fit import PointTable, fit
from difflaws.fit.heldout import leave_one_out, scores
from test_fit_identification import surface


def _by_hand(x, y):
    """Leave-one-out of a least-squares line in log-log, one numpy.polyfit per point."""
    lx, ly = np.log(x), np.log(y)
    held = [np.polyval(np.polyfit(np.delete(lx, i), np.delete(ly, i), 1), lx[i])
            for i in range(lx.size)]
    r = ly - np.array(held)
    rmse = np.sqrt(np.mean(r ** 2))
    return rmse, 1.0 - np.sum(r ** 2) / np.sum((ly - ly.mean()) ** 2)


def test_powerlaw_loo_matches_leave_one_out_polyfit():
    """Residuals below δ = 1 make the Huber line least squares, so each fold is a polyfit."""
    x = np.array([1e17, 3e17, 1e18, 4e18, 1e19])
    y = 0.2 * x ** 0.5 * np.array([1.05, 0.97, 1.02, 0.94, 1.03])
    res = fit("powerlaw", PointTable({"flops": x, "params": y}), bootstrap=0)
    rmse, r2 = _by_hand(x, y)
    d = res.diagnostics
    assert d["loo_rmse"] == pytest.approx(rmse, rel=1e-9)
    assert d["loo_r2"] == pytest.approx(r2, rel=1e-9)
    assert d["loo_folds"] == 5 and d["loo_failed"] == []
    fitted = np.polyval(np.polyfit(np.log(x), np.log(y), 1), np.log(x))
    assert d["rmse"] == pytest.approx(np.sqrt(np.mean((np.log(y) - fitted) ** 2)), rel=1e-9)
    assert d["loo_rmse"] > d["rmse"]  # held-out error is the larger


def test_failed_fold_is_reported_not_fatal():
    """Four points share one x and one stands alone: without it no slope exists."""
    x = np.array([1e18, 1e18, 1e18, 1e18, 1e19])
    y = 0.2 * x ** 0.5
    res = fit("powerlaw", PointTable({"flops": x, "params": y}), bootstrap=0)
    d = res.diagnostics
    assert [f["fold"] for f in d["loo_failed"]] == [4]
    # the other folds predict the exact law exactly
    assert d["loo_rmse"] == pytest.approx(0.0, abs=1e-9)


def test_leave_one_out_groups_rows_by_fold():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    folds = np.array([0, 0, 1, 1])
    # the "model" is the mean of the training rows: fold 0 predicts 3.5, fold 1 predicts 1.5
    pred, failed = leave_one_out(folds, y, lambda train: y[train].mean(),
                                 lambda m, test: np.full(test.sum(), m))
    assert pred.tolist() == [3.5, 3.5, 1.5, 1.5] and failed == []
    r2, rmse = scores(y, pred)
    assert rmse == pytest.approx(np.sqrt(np.mean((y - pred) ** 2)))
    assert r2 == pytest.approx(1 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2))


def test_chinchilla_loo_folds_are_runs():
    """With a run column, each run's rows (here two repeated measurements) form one fold."""
    base = surface(depends_on_n=True)
    n = len(base)
    twice = PointTable({k: np.concatenate([base[k], base[k]]) for k in base.columns}
                       | {"run": np.concatenate([np.arange(n), np.arange(n)]).astype(str)})
    res = fit("chinchilla", twice, grid="small", bootstrap=0)
    d = res.diagnostics
    assert d["loo_folds"] == n and d["loo_failed"] == []
    assert d["rmse"] < d["loo_rmse"] < 5 * d["rmse"]  # 0.2 % noise: held out stays small
    assert d["error_space"] == "log loss"
