"""Choosing a config value that reproduces a float exactly.

The two formats put the same number in different places: the authors store
``resid_scale`` and compute resid_scale / L, difflaws's CompleteP stores
``base_depth`` and computes (base_depth / L)^α; an init std is absolute in one
and a multiple of 1/√d in the other.  Converting x → x·L → ·/L in floats can
miss the original by an ulp, which would make a round trip differ.  The value
written is therefore the shortest decimal whose forward computation gives the
target bit for bit (0.4, not 0.40000000000000002), and the plain product only
when no decimal does.
"""

from __future__ import annotations

from typing import Callable

MAX_DIGITS = 17  # a float64 never needs more significant digits


def shortest(target: float, candidate: float, forward: Callable[[float], float]) -> float:
    """The shortest rounding x of ``candidate`` with ``forward(x) == target``, else
    ``candidate`` itself."""
    for digits in range(1, MAX_DIGITS + 1):
        x = float(f"{candidate:.{digits}g}")
        if forward(x) == target:
            return x
    return candidate
