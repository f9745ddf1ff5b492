"""The data-constrained law's figure: loss against tokens, and the value of repeated data.

One row per group (``--by noise`` family):

* left, loss against training tokens D: one colour per model size (the
  colour bar), one marker per unique-token budget U_D, marker area growing
  with epochs D/U_D, and the fitted L(N, D, U_D) from one epoch to the most
  each (size, budget) saw;
* right, effective data D'/U_D against epochs: the fitted curve with its
  bootstrap band, D' = D (fresh data) for reference and the limit 1 + R_D*.
"""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
from matplotlib.lines import Line2D
from difflaws.plots.labels import header, sci
from difflaws.plots.panels import MARKERS, size_colours
from difflaws.plots.style import COLUMN, figure, legend_below, log_axes, save

LAW = (r"data-constrained law  $L = E + A/N'^{\alpha} + B/D'^{\beta}$: repeated tokens "
       r"decay with $R_D^*$, excess parameters with $R_N^*$")
KEYS = ("E", "A", "B", "alpha", "beta", "R_D_star", "R_N_star")
MAX_REACH = 100.0  # the epochs axis ends at most this many times the data's reach


def _epoch_area(epochs):
    return 10.0 + 9.0 * np.log2(np.maximum(epochs, 1.0))


def _title(group, text):
    return f"{group}: {text}" if group is not None else text


def draw(results, path):
    """Draw ``{group: FitResult}`` of the data-constrained fitter to ``path`` (PNG + PDF)."""
    fig, axes = figure(ncols=2, nrows=len(results), width=2.1 * COLUMN, aspect=0.78,
                       layout="constrained")
    header(fig, LAW, results, KEYS)
    for row, (group, res) in enumerate(results.items()):
        _loss_panel(fig, axes[2 * row], group, res)
        _effective_data_panel(axes[2 * row + 1], group, res)
    return save(fig, path)


def _loss_panel(fig, ax, group, res):
    from difflaws.fit.data_constrained import predict

    t, p = res.extra["table"], res.params
    N, D, loss = t["params"], t["tokens"], t["loss"]
    U = np.minimum(t["unique_tokens"], D)
    epochs = D / U
    sizes = np.unique(N)
    norm, cmap = size_colours(sizes)
    budgets = np.unique(U)
    shown = budgets if budgets.size <= len(MARKERS) else \
        budgets[np.linspace(0, budgets.size - 1, len(MARKERS)).round().astype(int)]
    marker = {u: MARKERS[i] for i, u in enumerate(shown)}
    for n in sizes:
        colour = cmap(norm(n))
        for u in budgets:
            m = (N == n) & (U == u)
            if not m.any():
                continue
            d = np.geomspace(u, D[m].max(), 80) if D[m].max() > u else np.array([u])
            ax.plot(d, predict(p, n, d, u), color=colour, linewidth=0.9, alpha=0.85, zorder=2)
            ax.scatter(D[m], loss[m], s=_epoch_area(epochs[m]), color=colour,
                       marker=marker.get(u, "o"), edgecolor="white", linewidth=0.4, zorder=3)
    log_axes(ax, loss_y=True)
    ax.set_xlabel("training tokens D")
    ax.set_ylabel("loss")
    ax.set_title(_title(group, "loss; lines: fitted L(N, D, U_D)"))
    handles = [Line2D([], [], linestyle="", marker=marker[u], color="0.35", markersize=5,
                      label=f"U_D = {sci(u)}") for u in shown]
    handles += [Line2D([], [], linestyle="", marker="o", color="0.6",
                       label=f"{e:g} epoch" + ("s" if e != 1 else ""),
                       markersize=np.sqrt(_epoch_area(e))) for e in _epoch_ticks(epochs)]
    legend_below(ax, handles, ncol=min(4, len(handles)))
    bar = fig.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, pad=0.02,
                       fraction=0.06)
    bar.set_label("parameters N")


def _epoch_ticks(epochs):
    top = max(float(epochs.max()), 1.0)
    ticks = [e for e in (1, 4, 16, 64, 256, 1024) if e <= top * 1.01]
    return ticks if len(ticks) > 1 or top <= 1.0 else ticks + [round(top, 1)]


def _effective_data_panel(ax, group, res):
    from difflaws.fit.data_constrained import effective_data_ratio

    t, p = res.extra["table"], res.params
    seen = float(np.max(t["tokens"] / np.minimum(t["unique_tokens"], t["tokens"])))
    # show the limit when it is near the data; an unidentified R_D* (10^20 epochs) would
    # squeeze the measured range into a corner
    top = max(seen * 2.0, 16.0, min(4.0 * p["R_D_star"], seen * MAX_REACH))
    e = np.geomspace(1.0, top, 200)
    samples = res.extra.get("samples") or []
    if samples:
        # the band at the level of the fit's intervals (-o ci=...)
        level = res.diagnostics["bootstrap"]["level"]
        curves = np.array([effective_data_ratio(s, e) for s in samples])
        lo, hi = np.percentile(curves, [50 * (1 - level), 100 - 50 * (1 - level)], axis=0)
        ax.fill_between(e, lo, hi, color="C0", alpha=0.2, linewidth=0,
                        label=f"{level:.0%} bootstrap band")
    ax.plot(e, effective_data_ratio(p, e), color="C0",
            label=f"fitted, R_D* = {p['R_D_star']:.3g}")
    ax.plot(e, e, color="0.45", linestyle="--", linewidth=1.0, label="D' = D (fresh data)")
    limit = 1.0 + p["R_D_star"]
    off = "" if limit <= top else f" = {sci(limit)}, off the axes"
    ax.axhline(limit, color="C3", linestyle=":", linewidth=1.0, label="limit 1 + R_D*" + off)
    ax.axvspan(1.0, seen, color="0.5", alpha=0.08, linewidth=0, label="epochs in the data")
    lines = []
    for k, v in res.derived.items():
        if k.startswith("effective_data@"):
            n = float(k.split("@")[1].split("_")[0])
            ax.plot([n], [v * n], marker="o", color="C0", markersize=4, zorder=4)
            lines.append(f"{n:g} epochs: D'/D = {v:.2f}")
    # below the concave curve, to the right, the axes are always empty
    ax.text(0.97, 0.05, "\n".join(lines), transform=ax.transAxes, ha="right", va="bottom",
            fontsize=7, color="C0")
    log_axes(ax)
    ax.set_xlim(1.0, top)
    ax.set_ylim(0.9, top * 1.1)
    ax.set_xlabel("epochs D/U_D")
    ax.set_ylabel("effective data D'/U_D")
    ax.set_title(_title(group, "value of repeated data"))
    legend_below(ax, ncol=2)
