"""Means with standard errors: plain, and weighted by how many tokens each estimate covers."""

from __future__ import annotations

import math


def mean_stderr(values) -> tuple[float, float]:
    """Sample mean and its standard error s/√n (NaN for fewer than two values)."""
    return weighted_mean_stderr(values, [1.0] * len(values))


def weighted_mean_stderr(values, weights) -> tuple[float, float]:
    """Σwᵢmᵢ/Σwᵢ and its standard error, treating each mᵢ as one independent estimate.

    The variance is the weighted spread of the mᵢ scaled by n/(n − 1), as ``evaluate``
    does for the held-out NELBO: an estimate over more tokens counts for more.  Estimates
    of weight 0 are left out; NaN stderr for fewer than two.
    """
    pairs = [(float(m), float(w)) for m, w in zip(values, weights) if w > 0]
    total = sum(w for _, w in pairs)
    if not pairs:
        return math.nan, math.nan
    mean = sum(m * w for m, w in pairs) / total
    n = len(pairs)
    if n < 2:
        return mean, math.nan
    var = sum(w * (m - mean) ** 2 for m, w in pairs) / total * n / (n - 1)
    return mean, math.sqrt(var / n)
