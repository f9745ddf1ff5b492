"""Pick a concrete (depth, width, heads) whose FLOPs per token match a target.

Candidate widths are multiples of the head dimension the paper uses (64 up
to width 1024, 128 above); for each, the depth closest to the target is
tried.  Among the candidates within ``tolerance`` of the target, the one
whose aspect ratio width/depth is closest (in log) to the paper's shapes at
that size wins.  The paper's aspect ratio is interpolated, in log-log,
between the sweep and scaled-up shapes of docs/theory.md §6.1 and §6.5 and held
constant outside them.

``measure(depth, width)`` returns the backbone's ``figures()`` for that
shape, so the match is on the figures the run will actually report
(FLOPs per token, or parameters when a law set gives N* in parameters).
"""

from __future__ import annotations

import math
from typing import Callable

import attrs

from difflaws.model.shapes import default_head_dim

# (depth, width): the sweep (docs/theory.md §6.1) and the 3B/10B runs (§6.5).
PAPER_SHAPES = ((8, 512), (10, 640), (12, 768), (16, 1024), (20, 1536), (18, 3072), (19, 3072),
                (34, 4608))
MAX_WIDTH = 65536


@attrs.frozen
class ShapeChoice:
    depth: int
    width: int
    figures: dict
    value: float  # the figure matched to the target (FLOPs/token or parameters)
    target: float

    @property
    def heads(self) -> int:
        return int(self.figures["heads"])

    @property
    def name(self) -> str:
        return f"L{self.depth}-D{self.width}-H{self.heads}"

    @property
    def relative_error(self) -> float:
        return self.value / self.target - 1.0


def candidate_widths(max_width: int = MAX_WIDTH):
    width = 64
    while width <= max_width:
        yield width
        width += default_head_dim(width + 1)  # widths stay multiples of the head dim


def paper_aspect(target: float, measure: Callable, key: str) -> float:
    """width/depth of the paper's shapes whose ``key`` figure is near ``target`` (log-log)."""
    points = sorted({(math.log(measure(d, w)[key]), math.log(w / d)) for d, w in PAPER_SHAPES})
    # several shapes of one size (3B mask/uniform): average them
    merged: dict[float, list[float]] = {}
    for x, y in points:
        merged.setdefault(round(x, 2), []).append(y)
    xs = sorted(merged)
    ys = [sum(merged[x]) / len(merged[x]) for x in xs]
    x = math.log(target)
    if x <= xs[0]:
        return math.exp(ys[0])
    if x >= xs[-1]:
        return math.exp(ys[-1])
    for (x0, y0), (x1, y1) in zip(zip(xs, ys), zip(xs[1:], ys[1:])):
        if x0 <= x <= x1:
            return math.exp(y0 + (y1 - y0) * (x - x0) / (x1 - x0))
    raise AssertionError("unreachable")


def search_shape(target: float, measure: Callable, key: str = "flops_per_token_M",
                 tolerance: float = 0.02, max_width: int = MAX_WIDTH) -> ShapeChoice:
    """The integer shape nearest the paper's aspect ratio whose ``key`` figure is within
    ``tolerance`` of ``target`` (``key``: flops_per_token_M/6P or non_embedding_params)."""
    aspect = paper_aspect(target, measure, key)
    candidates = []
    for width in candidate_widths(max_width):
        per_layer = measure(1, width)[key]
        if per_layer > target * (1 + tolerance):
            break  # even one layer of this width is too much; wider ones more so
        guess = max(1, round(target / per_layer))
        for depth in {max(1, guess - 1), guess, guess + 1}:
            figures = measure(depth, width)
            candidates.append(ShapeChoice(depth, width, figures, figures[key], target))
    if not candidates:
        figures = measure(1, 64)
        return ShapeChoice(1, 64, figures, figures[key], target)
    close = [c for c in candidates if abs(c.relative_error) <= tolerance]
    if not close:  # tiny targets: nothing within tolerance, take the closest
        return min(candidates, key=lambda c: abs(math.log(c.value / target)))
    return min(close, key=lambda c: (abs(math.log(c.width / c.depth / aspect)),
                                     abs(c.relative_error)))
