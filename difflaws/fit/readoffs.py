"""Which compute budgets a fit may read optima off, and how far each extrapolates.

A law fitted on runs up to C_max says little about 1e4·C_max.  Unless the
user names budgets, the read-offs are at the fitted range's smallest and
largest compute and at 10 × the largest; any budget past
``max_extrapolation`` × C_max is left out (and listed), and each kept budget
past C_max carries its extrapolation factor C / C_max.
"""

from __future__ import annotations

import numpy as np

DEFAULT_REACH = 10.0  # the default budgets end one decade past the data
INSIDE = 1.01  # a factor up to this is the largest fitted budget, rounded to 3 digits


def fitted_compute(table) -> np.ndarray:
    """C = 6·N·D of every point (the convention the surface laws read off in)."""
    return 6.0 * table["params"] * table["tokens"]


def budgets(requested, compute, max_extrapolation: float) -> tuple[list, list]:
    """(kept, omitted) budgets: ``requested``, or the fitted range's min, max and 10 × max
    (to 3 digits), split at ``max_extrapolation`` × the largest fitted compute."""
    top = float(np.max(compute))
    if not len(requested):
        requested = [float(f"{c:.3g}") for c in (np.min(compute), top, DEFAULT_REACH * top)]
    limit = max_extrapolation * top
    kept = [float(c) for c in requested if c <= limit]
    return kept, [float(c) for c in requested if c > limit]


def factor(budget: float, compute) -> float:
    """How many times the largest fitted compute ``budget`` is (≤ 1: inside the data)."""
    return float(budget / np.max(compute))
