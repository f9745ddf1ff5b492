"""Panels that several laws' figures share, for the built-in figures and plugin ones alike.

Each function draws on one matplotlib axes and returns what a caller needs for
its legend; none saves or lays out the figure (``difflaws.plots.style``).

* :func:`loss_vs_tokens`: data against training tokens, one colour per model
  size, one marker per value of an extra sweep column (lr, batch size), with
  the fitted curve of each size and its bootstrap band;
* :func:`vertex_profiles`: per group (an isoFLOP budget, a target loss), the
  points, the parabola in log-log space through them and its vertex;
* :func:`loss_contours`: contours of a fitted L(N, D) with few, spaced labels;
* :func:`scatter_marked`: points whose coordinates repeat across an extra
  column, each value its own marker and, optionally, a small offset in x.
"""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
from matplotlib.lines import Line2D

from difflaws.plots.frontier import percentile_band
from difflaws.plots.labels import sci
from difflaws.plots.style import ACCENT, log_axes

MARKERS = ("o", "s", "^", "D", "v", "P", "X")
SWEEP_COLUMNS = (("lr", "η"), ("batch_size", "batch"))  # columns that repeat (N, D) points
DODGE_DECADES = 0.035  # x offset between markers of one point: ≈ 8 % of N, visible at 4 pt
BAND_ALPHA = 0.18


def size_colours(sizes):
    """(norm, cmap) mapping model sizes to viridis on a log scale."""
    sizes = np.asarray(sizes, float)
    lo, hi = float(sizes.min()), float(sizes.max())
    return mpl.colors.LogNorm(lo, hi if hi > lo else lo * 10), mpl.colormaps["viridis"]


def size_colorbar(fig, ax, norm, cmap, label="parameters N"):
    bar = fig.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, pad=0.02,
                       fraction=0.07, aspect=25)
    bar.set_label(label)
    bar.ax.tick_params(labelsize=6)
    # a log bar spanning under a decade labels its minor ticks too, on top of each other
    bar.ax.yaxis.set_minor_formatter(mpl.ticker.NullFormatter())
    return bar


def sweep_column(table):
    """(column, short name, values) of the first sweep column with several values in the
    table, or None: these are the points that share (N, D) and must stay apart."""
    for column, short in SWEEP_COLUMNS:
        if column in table:
            values = np.unique(np.asarray(table[column], float))
            if values.size > 1:
                return column, short, values
    return None


def marker_of(table):
    """(per-row marker index array, legend handles) for the table's sweep column."""
    found = sweep_column(table)
    if found is None:
        return np.zeros(len(table), int), []
    column, short, values = found
    index = np.searchsorted(values, np.asarray(table[column], float)) % len(MARKERS)
    handles = [Line2D([], [], linestyle="", marker=MARKERS[i % len(MARKERS)], color="0.35",
                      markerfacecolor="none" if i % 2 else "0.35", markersize=4,
                      label=f"{short} = {sci(v)}") for i, v in enumerate(values)]
    return index, handles


def scatter_marked(ax, x, y, marks, colour, dodge: bool = False, **kwargs):
    """Scatter with one marker per ``marks`` value (odd ones hollow), one artist each, so
    points that share (x, y) stay visible; ``dodge`` also offsets them in x (log axes)."""
    x, y, marks = np.asarray(x, float), np.asarray(y, float), np.asarray(marks)
    values = np.unique(marks)
    colour = np.broadcast_to(np.asarray(mpl.colors.to_rgba_array(colour)),
                             (x.size, 4)) if np.ndim(colour) < 2 else np.asarray(colour)
    artists = []
    for k, m in enumerate(values):
        sel = marks == m
        shift = 10.0 ** (DODGE_DECADES * (k - (values.size - 1) / 2)) if dodge else 1.0
        hollow = bool(int(m) % 2)
        artists.append(ax.scatter(x[sel] * shift, y[sel], marker=MARKERS[int(m) % len(MARKERS)],
                                  facecolors="none" if hollow else colour[sel],
                                  edgecolors=colour[sel] if hollow else "white",
                                  linewidths=0.8 if hollow else 0.3, zorder=3, **kwargs))
    return artists


def _band(ax, x, curves, colour, level):
    b = percentile_band(curves, level)
    if b is not None:
        ax.fill_between(x, b[0], b[1], color=colour, alpha=BAND_ALPHA, linewidth=0, zorder=1)


def loss_vs_tokens(ax, table, curve, draws=(), level: float = 0.95, reach: float = 1.0):
    """Loss against tokens per model size, with ``curve(N, D)`` and its band.

    ``draws`` are the same curve at bootstrap parameter draws; the band is
    their pointwise ``level`` interval.  ``reach`` > 1 extends each curve past
    the size's largest D (dashed).  Returns ``(norm, cmap, handles)``: the
    size colours, for a colour bar, and the marker legend of the sweep column.
    """
    N, D, L = (np.asarray(table[k], float) for k in ("params", "tokens", "loss"))
    norm, cmap = size_colours(N)
    marks, handles = marker_of(table)
    for n in np.unique(N):
        colour = cmap(norm(n))
        sel = N == n
        d = np.geomspace(D[sel].min(), D[sel].max(), 60) if np.ptp(D[sel]) else D[sel][:1]
        ax.plot(d, curve(n, d), color=colour, linewidth=1.0, zorder=2)
        if reach > 1 and d.size > 1:
            out = np.geomspace(d[-1], d[-1] * reach, 20)
            ax.plot(out, curve(n, out), color=colour, linewidth=0.8, linestyle="--", zorder=2)
        if len(draws) and d.size > 1:
            _band(ax, d, [f(n, d) for f in draws], colour, level)
        scatter_marked(ax, D[sel], L[sel], marks[sel], colour, s=11)
    log_axes(ax, loss_y=True)
    ax.set_xlabel("training tokens D")
    ax.set_ylabel("loss")
    return norm, cmap, handles


def vertex_profiles(ax, profiles, colours, vertex_label="vertex", loss_y: bool = True):
    """Points, log-log parabola and vertex ★ per profile.

    Each profile is a dict with ``x``, ``y`` (the points), ``coef`` = (c2, c1, c0)
    of ln y = c0 + c1·ln x + c2·(ln x)² and ``vertex`` = (x*, y*).  Returns the
    legend handle of the vertices.  ``loss_y``: y is a loss (labelled at 1, 2, 5 × 10^k).
    """
    for p, colour in zip(profiles, colours):
        x, y = np.asarray(p["x"], float), np.asarray(p["y"], float)
        c2, c1, c0 = p["coef"]
        u = np.linspace(np.log(x.min()), np.log(x.max()), 80)
        ax.plot(np.exp(u), np.exp(c0 + c1 * u + c2 * u * u), color=colour, linewidth=0.9,
                zorder=2)
        ax.scatter(x, y, s=9, color=colour, edgecolor="white", linewidth=0.3, zorder=3)
        ax.scatter([p["vertex"][0]], [p["vertex"][1]], marker="*", s=45, color=ACCENT,
                   edgecolor="white", linewidth=0.4, zorder=4)
    log_axes(ax, loss_y=loss_y)
    return Line2D([], [], linestyle="", marker="*", color=ACCENT, markersize=7,
                  label=vertex_label)


def loss_contours(ax, n, d, surface, points=None, levels=6):
    """Contours of ``surface`` (2-D, on the ``n × d`` grid), each labelled once, inside the
    axes and as far from the data ``points`` (N, D) as the line allows: labels at the edges
    get clipped, and labels under data points cannot be read."""
    NN, DD = np.meshgrid(n, d)
    finite = surface[np.isfinite(surface)]
    lo, hi = np.quantile(finite, [0.05, 0.9])
    values = np.unique(np.round(np.geomspace(lo, hi, levels), 3))
    cs = ax.contour(NN, DD, surface, levels=values, colors="0.55", linewidths=0.6, zorder=1)
    origin = np.array([np.log(n).min(), np.log(d).min()])
    scale = np.array([np.ptp(np.log(n)), np.ptp(np.log(d))])
    data = (np.log(np.column_stack(points)) - origin) / scale if points is not None else None
    spots = []
    for path in cs.get_paths():
        xy = path.vertices
        u = (np.log(xy) - origin) / scale if len(xy) else xy  # axes fractions
        inner = np.all((u > 0.1) & (u < 0.9), axis=1)
        if not inner.any():
            continue
        score = -np.abs(u[inner] - 0.5).sum(axis=1) * 0.2  # mildly prefer the middle
        if data is not None and len(data):
            score += np.min(np.linalg.norm(u[inner][:, None] - data[None], axis=2), axis=1)
        spots.append(tuple(xy[inner][np.argmax(score)]))
    if spots:
        ax.clabel(cs, fontsize=5.5, fmt="%.3g", inline=True, inline_spacing=6, manual=spots)
    return cs
