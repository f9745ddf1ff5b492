"""Figures of fit results.  Each takes ``{group: FitResult}`` and a path, returns the files.

Fitters choose theirs through ``FitterConfig.figure``; the functions are named by what they draw."""

from __future__ import annotations

import numpy as np

from difflaws.plots import frontier
from difflaws.plots.style import colors, figure, save


def _label(group):
    return None if group is None else str(group)


SIX_ND_TOLERANCE = 0.02  # a table's flops within 2 % of 6·N·D count as the 6P convention


def _convention(res) -> str | None:
    """The FLOP convention of a result's compute axis: the one its fit records, else 6P when
    its points satisfy C = 6·N·D (a CSV's flops, given or derived so), else unknown (None)."""
    recorded = res.options.get("convention")
    if recorded:
        return recorded
    t = res.extra.get("table")
    if t is None or not all(k in t for k in ("params", "tokens", "flops")):
        return None
    ratio = np.median(t["flops"] / (6 * t["params"] * t["tokens"]))
    return "6P" if abs(ratio - 1) <= SIX_ND_TOLERANCE else None


def loss_surface(results, path):
    """L(N, D) contours with the data and the compute-optimal frontier."""
    from difflaws.fit.chinchilla import predict

    fig, axes = figure(ncols=len(results), aspect=0.85)
    overlay = frontier.overlay_of(results)
    for ax, (group, res) in zip(axes, results.items()):
        t, x = res.extra["table"], res.extra["x"]
        N, D = t["params"], t["tokens"]
        n = np.geomspace(N.min() / 2, N.max() * 2, 200)
        d = np.geomspace(D.min() / 2, D.max() * 2, 200)
        NN, DD = np.meshgrid(n, d)
        LL = predict(x, NN, DD)
        levels = np.quantile(t["loss"], np.linspace(0.02, 0.98, 12))
        cs = ax.contour(NN, DD, LL, levels=np.unique(levels), cmap="viridis", linewidths=0.8)
        ax.clabel(cs, fontsize=6, fmt="%.2f")
        sc = ax.scatter(N, D, c=t["loss"], cmap="viridis", s=10, edgecolor="k", linewidth=0.2,
                        vmin=levels.min(), vmax=levels.max(), zorder=3)
        p = res.params
        a, G = res.derived["a"], res.derived["G"]
        C = np.geomspace(6 * n.min() * d.min(), 6 * n.max() * d.max(), 100)
        ax.plot(G * (C / 6) ** a, (C / 6) ** (1 - a) / G, color="C3",
                label=f"compute-optimal (a = {a:.3f})")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(n.min(), n.max())
        ax.set_ylim(d.min(), d.max())
        if overlay is not None:
            frontier.published_plane(ax, overlay, "6P")  # this surface's C is 6·N·D
        ax.set_xlabel("parameters N")
        ax.set_ylabel("tokens D")
        title = (f"E={p['E']:.3f}, A={p['A']:.4g}, B={p['B']:.4g}, "
                 f"α={p['alpha']:.3f}, β={p['beta']:.3f}")
        ax.set_title(f"{_label(group) + ': ' if group is not None else ''}{title}", fontsize=7)
        ax.legend(loc="upper left")
        fig.colorbar(sc, ax=ax, label="loss")
    return save(fig, path)


def isoflop_profiles(results, path):
    """IsoFLOP curves with parabolas (per group), and the N*, D*, L* frontiers."""
    groups = list(results.items())
    fig, axes = figure(ncols=4, width=13.6, aspect=0.85)
    palette = colors(max(len(groups), 1))
    for gi, (group, res) in enumerate(groups):
        optima = res.extra["optima"]
        cols = colors(len(optima))
        for o, col in zip(optima, cols):
            N, L = o["sizes"], o["losses"]
            c2, c1, c0 = o["coef_logN"]
            u = np.linspace(np.log(N.min()), np.log(N.max()), 100)
            axes[0].scatter(N, L, s=10, color=col, zorder=3)
            axes[0].plot(np.exp(u), np.exp(c0 + c1 * u + c2 * u * u), color=col, linewidth=1.0)
            axes[0].scatter([o["N_star"]], [o["L_star"]], marker="*", s=40, color="C3", zorder=4)
        C = np.array([o["budget"] for o in optima])
        for ax, name in zip(axes[1:], ("N_star", "D_star", "L_star")):
            y = np.array([o[name] for o in optima])
            frontier.draw(ax, C, y, res.params[name], res.extra["samples"].get(name),
                          color=palette[gi] if len(groups) > 1 else "C0",
                          label=_label(group))
    overlay = frontier.overlay_of(results)
    if overlay is not None and groups:
        for ax, name in zip(axes[1:3], ("N_star", "D_star")):
            frontier.published(ax, overlay, name, _convention(groups[0][1]))
    axes[0].set_xscale("log")
    axes[0].set_yscale("log")
    axes[0].set_xlabel("parameters N")
    axes[0].set_ylabel("loss")
    axes[0].set_title("isoFLOP profiles (★ vertex)")
    for ax, name, ylabel in zip(axes[1:], ("N*", "D*", "L*"),
                                ("optimal parameters N*", "optimal tokens D*", "optimal loss L*")):
        ax.set_xlabel("compute C (FLOPs)")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{name}(C)")
        ax.legend(loc="best")
    fig.tight_layout()
    legend = "shaded: 95 % bootstrap band; dashed: extrapolation"
    if overlay is not None:
        legend += "; coloured dashes: published laws"
    fig.text(0.99, 0.0, legend, ha="right", va="bottom", fontsize=7, color="0.35")
    return save(fig, path)


def _power(results, path, xlabel, ylabel, title):
    fig, axes = figure(aspect=0.8)
    ax = axes[0]
    palette = colors(len(results)) if len(results) > 1 else ["C0"]
    for col, (group, res) in zip(palette, results.items()):
        frontier.draw(ax, res.extra["x"], res.extra["y"], res.params, res.extra.get("samples"),
                      color=col, label=_label(group))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(loc="best")
    return save(fig, path)


def power_law(results, path):
    opts = next(iter(results.values())).options
    return _power(results, path, opts.get("x", "x"), opts.get("y", "y"),
                  "power law, 95 % bootstrap band")


def batch_size_law(results, path):
    return _power(results, path, "tokens D", "optimal batch size B* (tokens)",
                  "B*(D), 95 % bootstrap band")


def learning_rate_law(results, path):
    return _power(results, path, "batch size B (tokens)", "optimal learning rate η*",
                  "η*(B), 95 % bootstrap band")


def loss_curves(results, path):
    """Loss curves of a sweep with their L(S) fits, coloured by model size."""
    from difflaws.fit.curves import curve_loss

    fig, axes = figure(ncols=len(results), aspect=0.8)
    for ax, (group, res) in zip(axes, results.items()):
        t = res.extra["table"]
        runs = t["run"].astype(str)
        sizes = np.unique(t["params"])
        cmap = dict(zip(sizes, colors(len(sizes))))
        for fit in res.extra["fits"]:
            m = runs == fit["run"]
            x, y = t["tokens"][m], t["loss"][m]
            col = cmap[t["params"][m][0]]
            ax.plot(x, y, color=col, alpha=0.35, linewidth=0.8)
            xs = np.geomspace(x.min(), x.max(), 100)
            ax.plot(xs, curve_loss(fit, xs), color=col, linestyle="--", linewidth=0.9)
        for n, col in cmap.items():
            ax.plot([], [], color=col, label=f"N = {n:.3g}")
        ax.set_xscale("log")
        ax.set_xlabel("tokens")
        ax.set_ylabel("loss")
        ax.set_title(f"{_label(group) + ': ' if group is not None else ''}loss curves "
                     "(dashed: C₀ + B₀·S^−b)")
        ax.legend(loc="upper right")
    return save(fig, path)
