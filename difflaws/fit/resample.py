"""Bootstrap helpers shared by the fitters: resampling by cluster, intervals."""

from __future__ import annotations

import numpy as np

from difflaws.errors import UserError


def cluster_ids(table) -> np.ndarray:
    """Row -> cluster index: whole runs are resampled when a ``run`` column exists."""
    if "run" in table:
        _, ids = np.unique(table["run"].astype(str), return_inverse=True)
        return ids
    return np.arange(len(table))


def resample_weights(clusters: np.ndarray, replicates: int, rng) -> np.ndarray:
    """[replicates, rows] multiplicities of a bootstrap that draws whole clusters."""
    k = int(clusters.max()) + 1
    draws = rng.integers(0, k, size=(replicates, k))
    counts = np.zeros((replicates, k))
    np.add.at(counts, (np.repeat(np.arange(replicates), k), draws.ravel()), 1.0)
    return np.ascontiguousarray(counts[:, clusters])


def interval(samples, level: float):
    """Percentile interval of the finite samples, or (nan, nan) if there are none."""
    samples = np.asarray(samples, float)
    samples = samples[np.isfinite(samples)]
    if samples.size == 0:
        return (float("nan"), float("nan"))
    tail = 50.0 * (1.0 - level)
    lo, hi = np.percentile(samples, [tail, 100.0 - tail])
    return (float(lo), float(hi))


def need_points(table, n: int, law: str, what: str = "points") -> None:
    if len(table) < n:
        raise UserError(f"{table.source}: {law} needs at least {n} {what}, got {len(table)}; "
                        "add runs or pick a simpler law")
