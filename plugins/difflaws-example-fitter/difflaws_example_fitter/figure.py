"""``difflaws fit --law kaplan --plot OUT.png``: the data with L(N, D), and the frontier N*(C)."""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import NullFormatter

from difflaws.plots.style import colors, figure, save
from difflaws_example_fitter.law import frontier, loss

MAX_CURVES = 6  # token counts drawn as model curves; more would be unreadable


def draw(results: dict, path) -> list:
    fig, (left, right) = figure(ncols=2, aspect=0.85)
    palette = colors(len(results)) if len(results) > 1 else ["C0"]
    for colour, marker, (group, res) in zip(palette, "osD^v<>", results.items()):
        t, p = res.extra["table"], res.params
        N, D, L = t["params"], t["tokens"], t["loss"]
        levels = np.unique(D)
        if len(levels) > MAX_CURVES:  # run directories: every run has its own D
            levels = np.geomspace(D.min(), D.max(), MAX_CURVES)
        n = np.geomspace(N.min() / 1.5, N.max() * 1.5, 100)
        shades = colors(len(levels))
        left.scatter(N, L, c=np.log(D), cmap="viridis", marker=marker, s=12, zorder=3,
                     edgecolor="k", linewidth=0.2)
        for d, shade in zip(levels, shades):
            left.plot(n, loss(n, d, p), color=shade, linewidth=0.9)
        A, alpha = frontier(p)["N_star"]
        C = 6.0 * N * D
        c = np.geomspace(C.min(), C.max() * 10.0, 100)
        name = "" if group is None else f"{group}: "
        right.plot(c, A * c ** alpha, color=colour,
                   label=f"{name}N* = {A:.3g}·C^{alpha:.3f}")
        right.scatter(C, N, color=colour, marker=marker, s=8, alpha=0.5)
    left.set(xscale="log", yscale="log", xlabel="parameters N", ylabel="loss",
             title="L(N, D) at fixed D (dark → light: more tokens)")
    # a short log axis gets many minor labels, each a slow mathtext string
    left.yaxis.set_minor_formatter(NullFormatter())
    right.set(xscale="log", yscale="log", xlabel="compute C = 6ND (FLOPs)",
              ylabel="parameters", title="compute-optimal N*(C) (dots: data)")
    right.legend(loc="best")
    return save(fig, path)
