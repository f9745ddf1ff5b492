"""Checks a figure's layout the way a reviewer's eye does: text on text, legends on data.

For tests of figures (the built-in laws' and a plugin's): render the figure,
then ``overlapping_texts(fig)`` lists every pair of visible texts whose
boxes intersect (titles, axis and tick labels, legend entries, contour
labels, notes) and ``points_under_legends(fig)`` every data point a legend
box covers.  Both are empty for a figure fit for a paper.
"""

from __future__ import annotations

import numpy as np
from matplotlib.collections import PathCollection
from matplotlib.legend import Legend
from matplotlib.text import Text

SHRINK = 1.0  # pixels taken off each side: boxes that merely touch do not overlap


def _tick_labels(fig):
    """Tick label → whether it is drawn: matplotlib keeps labels of ticks beyond the view
    limits, which are not drawn and so cannot collide."""
    out = {}
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            span = (hi - lo) * 1e-9
            for tick in axis.majorTicks + axis.minorTicks:
                inside = lo - span <= tick.get_loc() <= hi + span
                out[tick.label1] = out[tick.label2] = inside
    return out


def _texts(fig, renderer):
    """(artist, bbox) of every visible, non-empty text that is drawn."""
    ticks = _tick_labels(fig)
    out = []
    for t in fig.findobj(Text):
        shown = t.get_visible() and (t.axes is None or t.axes.get_visible())
        if not shown or not t.get_text().strip() or not ticks.get(t, True):
            continue
        box = t.get_window_extent(renderer)
        if box.width > 0 and box.height > 0:
            out.append((t, box))
    return out


def overlapping_texts(fig) -> list[tuple[str, str]]:
    """Pairs of texts (as their strings) whose drawn boxes intersect."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = _texts(fig, renderer)
    pairs = []
    for i, (a, box_a) in enumerate(texts):
        for b, box_b in texts[i + 1:]:
            if (box_a.x0 + SHRINK < box_b.x1 - SHRINK and box_b.x0 + SHRINK < box_a.x1 - SHRINK
                    and box_a.y0 + SHRINK < box_b.y1 - SHRINK
                    and box_b.y0 + SHRINK < box_a.y1 - SHRINK):
                pairs.append((a.get_text(), b.get_text()))
    return pairs


def _data_points(ax) -> np.ndarray:
    """Display coordinates of every marker and scatter point of ``ax``."""
    points = []
    for c in ax.collections:
        if isinstance(c, PathCollection) and c.get_visible() and len(c.get_offsets()):
            points.append(c.get_offset_transform().transform(np.asarray(c.get_offsets())))
    for line in ax.get_lines():
        if line.get_visible() and line.get_marker() not in (None, "", "None", " "):
            xy = np.column_stack([line.get_xdata(), line.get_ydata()]).astype(float)
            if len(xy):
                points.append(line.get_transform().transform(xy))
    return np.concatenate(points) if points else np.empty((0, 2))


def points_under_legends(fig) -> list[tuple[int, int]]:
    """(axes index, count) for each axes whose data points a legend box covers."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legends = [leg for leg in fig.findobj(Legend) if leg.get_visible()]
    out = []
    for i, ax in enumerate(fig.axes):
        xy = _data_points(ax)
        xy = xy[np.all(np.isfinite(xy), axis=1)]
        if not len(xy):
            continue
        covered = 0
        for leg in legends:
            box = leg.get_window_extent(renderer)
            covered += int(np.sum((xy[:, 0] > box.x0) & (xy[:, 0] < box.x1)
                                  & (xy[:, 1] > box.y0) & (xy[:, 1] < box.y1)))
        if covered:
            out.append((i, covered))
    return out

