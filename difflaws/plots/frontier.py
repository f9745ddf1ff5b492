"""Compute-optimal frontiers and other power laws y = A·x^α: data, fit, bootstrap band,
extrapolation; published law sets drawn over them (``difflaws fit --plot --overlay``).

:func:`curve` draws any fitted y(x) (a frontier N*(C) of a loss surface, say)
solid over the data's x range and dashed beyond, with the pointwise band of
its bootstrap draws; :func:`draw` does so for a fitted power law with its
points.  Both are building blocks for plugin figures too.
"""

from __future__ import annotations

import attrs
import numpy as np

from difflaws.plots.labels import tex, tex_text
from difflaws.plots.style import log_axes

EXTRAPOLATE = 10.0  # a frontier is drawn dashed to this multiple of the largest x


def band(samples, x, level=0.95):
    """Pointwise percentile band of A·x^α over bootstrap samples [[A, α], ...]."""
    if samples is None or len(samples) == 0:
        return None
    s = np.asarray(samples)
    s = s[np.all(np.isfinite(s), axis=1)]
    curves = s[:, :1] * x[None, :] ** s[:, 1:2]
    return percentile_band(curves, level)


def percentile_band(curves, level=0.95):
    """(low, high) pointwise over the finite rows of ``curves``; None under two rows."""
    curves = np.asarray(curves, float)
    curves = curves[np.all(np.isfinite(curves), axis=1)]
    if len(curves) < 2:
        return None
    tail = 50 * (1 - level)
    return np.percentile(curves, [tail, 100 - tail], axis=0)


def curve(ax, f, lo, hi, draws=(), color="C0", label=None, extrapolate=EXTRAPOLATE,
          level=0.95):
    """``f(x)`` solid on [lo, hi], dashed to ``hi·extrapolate``, with the ``level`` band of
    ``draws`` (the same function at bootstrap parameters) over both; log-log axes."""
    grid_in = np.geomspace(lo, hi, 100)
    ax.plot(grid_in, f(grid_in), color=color, label=label, zorder=2)
    full = grid_in
    if extrapolate > 1:
        grid_out = np.geomspace(hi, hi * extrapolate, 60)
        ax.plot(grid_out, f(grid_out), color=color, linestyle="--", linewidth=1.0, zorder=2)
        full = np.concatenate([grid_in, grid_out[1:]])
    b = percentile_band([g(full) for g in draws], level) if len(draws) else None
    if b is not None:
        ax.fill_between(full, b[0], b[1], color=color, alpha=0.18, linewidth=0, zorder=1)
    log_axes(ax)


def power_label(A, alpha, y="y", x="x", group=None) -> str:
    """'$y = 2.9\\times10^{-5}\\,x^{0.530}$' with the group in front."""
    lead = rf"{tex_text(group)}:\ " if group is not None else ""
    return f"${lead}{y} = {tex(A)}\\,{x}^{{{alpha:.3f}}}$"


def draw(ax, x, y, params, samples=None, color="C0", label=None, extrapolate=EXTRAPOLATE,
         level=0.95, symbols=("y", "x")):
    """Points, the fitted power law over the data range and, dashed, beyond it, with the
    band of the bootstrap ``samples`` [[A, α], ...]; the legend entry is the law."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    A, a = params["A"], params["alpha"]
    ax.scatter(x, y, s=14, color=color, zorder=3, edgecolor="white", linewidth=0.4)
    s = np.asarray(samples if samples is not None else [], float).reshape(-1, 2)
    draws = [lambda g, A_=A_, a_=a_: A_ * g ** a_ for A_, a_ in s if np.isfinite(A_ * a_)]
    curve(ax, lambda g: A * g ** a, x.min(), x.max(), draws, color,
          power_label(A, a, *symbols, group=label), extrapolate, level)


# Published frontiers drawn over a fit's figure (``difflaws fit --plot --overlay``): dashed,
# in colours neither the fitted lines (C0, viridis), the optima (C3) nor their frontier use.
OVERLAY_COLORS = ("C1", "C4", "C6", "C5", "C2", "C9", "C8")
OVERLAY_DASHES = (0, (5, 2))


@attrs.define
class Overlay:
    """Law sets to draw over a figure's compute-optimal frontier.

    Set as ``FitResult.extra["overlay"]``; a figure that draws a frontier calls
    :func:`published` (or :func:`published_plane`), which records in ``notes``
    what it could not draw and why, and sets ``drawn``.
    """

    law_sets: list
    notes: list = attrs.Factory(list)
    drawn: bool = False

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def frontiers(self, convention: str | None):
        """(label, colour, {"N_star"/"D_star": PowerLaw}) per set that has laws to draw."""
        self.drawn = True
        if convention is None:
            self._note("the figure's FLOP convention is unknown (the fit records none and its "
                       "flops are not 6·N·D); no published frontier drawn")
            return
        for i, laws in enumerate(self.law_sets):
            found, skipped = laws.figure_frontier(convention)
            for text in skipped:
                self._note(text)
            if found:
                families = laws.noise_names()
                label = laws.name if len(families) <= 1 else f"{laws.name} ({laws.default_noise})"
                yield label, OVERLAY_COLORS[i % len(OVERLAY_COLORS)], found


def overlay_of(results: dict) -> Overlay | None:
    return next((r.extra["overlay"] for r in results.values()
                 if r.extra.get("overlay") is not None), None)


def _dashed(ax, x, y, label: str, color) -> None:
    ax.plot(x, y, color=color, linestyle=OVERLAY_DASHES, linewidth=1.1, label=label, zorder=2)


def published(ax, overlay: Overlay, name: str, convention: str | None) -> None:
    """Each set's ``name`` law (N_star or D_star) of C over the axes' current C range."""
    lo, hi = ax.get_xlim()
    C = np.geomspace(lo, hi, 60)
    for label, color, laws in overlay.frontiers(convention):
        if name in laws:
            _dashed(ax, C, laws[name](C), label, color)
    ax.set_xlim(lo, hi)  # the published lines span the axis; they must not widen it


def published_plane(ax, overlay: Overlay, convention: str | None) -> None:
    """Each set's frontier as the curve (N*(C), D*(C)) over the axes' current N range."""
    lo, hi = ax.get_xlim()
    N = np.geomspace(lo, hi, 60)
    for label, color, laws in overlay.frontiers(convention):
        if "N_star" in laws and "D_star" in laws:
            _dashed(ax, N, laws["D_star"].along(laws["N_star"])(N), label, color)  # D* of N*
    ax.set_xlim(lo, hi)
