"""Power laws y = A·x^α with data, a bootstrap band and extrapolation."""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import NullFormatter


def band(samples, x, level=0.95):
    """Pointwise percentile band of A·x^α over bootstrap samples [[A, α], ...]."""
    if samples is None or len(samples) == 0:
        return None
    s = np.asarray(samples)
    s = s[np.all(np.isfinite(s), axis=1)]
    curves = s[:, :1] * x[None, :] ** s[:, 1:2]
    tail = 50 * (1 - level)
    return np.percentile(curves, [tail, 100 - tail], axis=0)


def draw(ax, x, y, params, samples=None, color="C0", label=None, extrapolate=10.0,
         level=0.95):
    """Points, the fitted line over the data range and, dashed, beyond it."""
    x, y = np.asarray(x), np.asarray(y)
    lo, hi = x.min(), x.max()
    grid_in = np.geomspace(lo, hi, 100)
    grid_out = np.geomspace(hi, hi * extrapolate, 60)
    A, a = params["A"], params["alpha"]
    ax.scatter(x, y, s=14, color=color, zorder=3, edgecolor="white", linewidth=0.4)
    text = f"{label + ': ' if label else ''}{A:.3g}·x^{{{a:.3f}}}"
    ax.plot(grid_in, A * grid_in ** a, color=color, label=f"${text}$".replace("·", r"\cdot "))
    if extrapolate > 1:
        ax.plot(grid_out, A * grid_out ** a, color=color, linestyle="--", linewidth=1.0)
    full = np.concatenate([grid_in, grid_out[1:]]) if extrapolate > 1 else grid_in
    b = band(samples, full, level)
    if b is not None:
        ax.fill_between(full, b[0], b[1], color=color, alpha=0.18, linewidth=0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    # minor labels on a short log axis are many slow mathtext strings, and clutter
    ax.yaxis.set_minor_formatter(NullFormatter())
