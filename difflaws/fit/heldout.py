"""In-sample and held-out error of a fit: R² and RMSE, and leave-one-run-out.

Every fitter scores its predictions in the space it fits in (log loss, or
log y for a power law), so the figures compare with its residuals.  The
held-out figures refit the law once per fold with that fold left out and
predict the fold: a fold is a run (``resample.cluster_ids``: the rows of one
run, else one row).  Folds refit without a bootstrap, so this costs one fit
per fold.  A fold that cannot be fitted is listed, not fatal.
"""

from __future__ import annotations

import numpy as np

from difflaws.errors import UserError


def scores(observed, predicted) -> tuple[float, float]:
    """(R², RMSE) of ``predicted`` against ``observed``, over the finite predictions."""
    y, p = np.asarray(observed, float), np.asarray(predicted, float)
    ok = np.isfinite(p)
    if not ok.any():
        return float("nan"), float("nan")
    r = y[ok] - p[ok]
    ss_tot = float(np.sum((y[ok] - y[ok].mean()) ** 2))
    sse = float(r @ r)
    return (1.0 - sse / ss_tot if ss_tot > 0 else float("nan"),
            float(np.sqrt(sse / r.size)))


def leave_one_out(folds, observed, fit, predict) -> tuple[np.ndarray, list]:
    """Held-out predictions of every row, and the folds that could not be fitted.

    ``fit(train)`` gets a boolean mask of the rows to fit and returns a model
    (or None, or raises UserError, when those rows admit no fit);
    ``predict(model, test)`` returns the predictions for the rows of mask ``test``.
    """
    folds = np.asarray(folds)
    pred = np.full(folds.size, np.nan)
    failed = []
    for f in np.unique(folds):
        test = folds == f
        try:
            model = fit(~test)
        except UserError as exc:
            failed.append({"fold": f.item(), "reason": str(exc)})
            continue
        if model is None:
            failed.append({"fold": f.item(), "reason": "no fit without this fold"})
            continue
        pred[test] = predict(model, test)
    return pred, failed


def quality(observed, predicted, folds, fit, predict, space: str) -> dict:
    """``r2, rmse`` in-sample and ``loo_r2, loo_rmse, loo_folds, loo_failed`` held out."""
    r2, rmse = scores(observed, predicted)
    held, failed = leave_one_out(folds, observed, fit, predict)
    loo_r2, loo_rmse = scores(observed, held)
    return {"r2": r2, "rmse": rmse, "loo_r2": loo_r2, "loo_rmse": loo_rmse,
            "loo_folds": int(np.unique(np.asarray(folds)).size), "loo_failed": failed,
            "error_space": space}
