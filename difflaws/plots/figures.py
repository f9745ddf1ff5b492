"""Figures of fit results.  Each takes ``{group: FitResult}`` and a path, returns the files.

Fitters choose theirs through ``FitterConfig.figure``; the functions are named by what
they draw.  Every figure states its law and coefficients with their intervals in the
header (``labels.header``), red with a "not identified" line when the fit says so, and
keeps legends under the axes.  The panels are ``difflaws.plots.panels`` and
``difflaws.plots.frontier``; docs/plots.md shows how a plugin figure reuses them.
"""

from __future__ import annotations

import numpy as np
from matplotlib.lines import Line2D

from difflaws.plots import frontier, panels
from difflaws.plots.labels import header, sci, tex_text, with_ci
from difflaws.plots.style import ACCENT, PAGE, colors, figure, legend_below, log_axes, save

SIX_ND_TOLERANCE = 0.02  # a table's flops within 2 % of 6·N·D count as the 6P convention
MAX_DRAWS = 200  # bootstrap draws a band is drawn from: percentiles settle well before
SLICES = 5  # isoFLOP slices of a loss surface when the data have no budgets of their own
LEVEL = 0.95


def _label(group):
    return None if group is None else str(group)


def _level(res) -> float:
    return float(((res.diagnostics or {}).get("bootstrap") or {}).get("level", LEVEL))


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


def _group_colours(results):
    return colors(len(results)) if len(results) > 1 else ["C0"]


# -- chinchilla: L(N, D) = E + A/N^α + B/D^β -------------------------------------------------

SURFACE = r"Chinchilla law  $L(N, D) = E + A/N^{\alpha} + B/D^{\beta}$,  C = 6ND"
SURFACE_KEYS = ("E", "A", "B", "alpha", "beta")


def _surface_x(p):
    """[ln A, ln B, ln E, α, β] of a params dict (the fit's own parametrisation)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.array([np.log(p["A"]), np.log(p["B"]), np.log(p["E"]), p["alpha"],
                         p["beta"]], float)


def _surface_draws(res):
    return [_surface_x(s) for s in (res.extra.get("samples") or [])[:MAX_DRAWS]]


def _optimum(x, C):
    """(N*, D*, L*) of the surface ``x`` at budgets C under C = 6ND (docs/fitting.md §1)."""
    from difflaws.fit.chinchilla import allocation, predict, to_params

    g = allocation(to_params(x), [])
    with np.errstate(all="ignore"):  # an unidentified draw gives inf, dropped from bands
        n = g["G"] * (C / 6.0) ** g["a"]
        d = (C / 6.0) ** g["b"] / g["G"]
        return n, d, predict(x, n, d)


def loss_surface(results, path):
    """Per group: loss vs tokens with L(N, D) and its band, the surface's isoFLOP slices
    with their vertices, and L(N, D) contours over the data with the frontier curve; then
    the compute-optimal N*(C), D*(C), L*(C) of every group with bootstrap bands."""
    from difflaws.fit.chinchilla import predict

    rows = len(results) + 1
    fig, axes = figure(ncols=3, nrows=rows, width=PAGE, aspect=0.9, layout="constrained")
    overlay = frontier.overlay_of(results)
    header(fig, SURFACE, results, SURFACE_KEYS)
    palette = _group_colours(results)
    front = axes[3 * (rows - 1):]
    for i, (group, res) in enumerate(results.items()):
        ax_loss, ax_iso, ax_plane = axes[3 * i: 3 * i + 3]
        t, x, draws = res.extra["table"], res.extra["x"], _surface_draws(res)
        prefix = f"{group}: " if group is not None else ""
        norm, cmap, handles = panels.loss_vs_tokens(
            ax_loss, t, lambda n, d: predict(x, n, d),
            [lambda n, d, xs=xs: predict(xs, n, d) for xs in draws], _level(res))
        panels.size_colorbar(fig, ax_loss, norm, cmap)
        ax_loss.set_title(f"{prefix}loss vs tokens; lines: fitted L(N, D)")
        if handles:
            legend_below(ax_loss, handles, ncol=min(3, len(handles)))
        _surface_slices(ax_iso, t, x)
        ax_iso.set_title(f"{prefix}isoFLOP slices of L(N, D)")
        _surface_plane(ax_plane, t, x, res, overlay)
        ax_plane.set_title(f"{prefix}L(N, D) contours and the data")
        C = 6.0 * t["params"] * t["tokens"]
        for ax, k in zip(front, range(3)):
            frontier.curve(ax, lambda c, k=k: _optimum(x, c)[k], C.min(), C.max(),
                           [lambda c, xs=xs, k=k: _optimum(xs, c)[k] for xs in draws],
                           palette[i], _frontier_label(res, k, group), level=_level(res))
    for ax, symbol, what in zip(front, ("N*", "D*", "L*"), ("parameters", "tokens", "loss")):
        ax.set_xlabel("compute C = 6ND (FLOPs)")
        ax.set_ylabel(f"{symbol} ({what})")
        ax.set_title(f"{symbol}(C); dashed: extrapolation")
    log_axes(front[2], loss_y=True)
    if overlay is not None:
        for ax, name in zip(front[:2], ("N_star", "D_star")):
            frontier.published(ax, overlay, name, "6P")  # this surface's C is 6·N·D
    for ax in front:
        legend_below(ax, ncol=1)
    return save(fig, path)


def _frontier_label(res, k, group):
    """N* and D* are power laws of C: their law; L*(C) keeps E, so just the group."""
    from difflaws.fit.chinchilla import allocation

    if k == 2:
        return "$" + (tex_text(group) + r":\ " if group is not None else "") + r"L^*(C)$"
    g = allocation(res.params, [])
    A, a = (g["G"] * 6.0 ** -g["a"], g["a"]) if k == 0 else (6.0 ** -g["b"] / g["G"], g["b"])
    return frontier.power_label(A, a, ("N^*", "D^*")[k], "C", _label(group))


def _surface_slices(ax, t, x):
    """L(N, C/6N) at the data's budgets (≤ 10 distinct) or SLICES spread over its compute,
    with the data of each budget and the vertex N*(C)."""
    from difflaws.fit.chinchilla import predict
    from difflaws.fit.isoflop import budget_column

    N, D = t["params"], t["tokens"]
    own = budget_column(t) if "flops" in t or "budget" in t else None
    budgets = np.unique(own) if own is not None and np.unique(own).size <= 10 else None
    C = budgets if budgets is not None else np.geomspace(
        (6 * N * D).min(), (6 * N * D).max(), SLICES)
    n = np.geomspace(N.min() / 1.5, N.max() * 1.5, 120)
    norm, cmap = panels.size_colours(C)
    for c in C:
        colour = cmap(norm(c))
        ax.plot(n, predict(x, n, c / (6 * n)), color=colour, linewidth=0.9, zorder=2)
        if budgets is not None:
            sel = own == c
            ax.scatter(N[sel], t["loss"][sel], s=9, color=colour, edgecolor="white",
                       linewidth=0.3, zorder=3)
    ns, _, ls = _optimum(x, C)
    inside = (ns >= n.min()) & (ns <= n.max())
    ax.scatter(ns[inside], ls[inside], marker="*", s=45, color=ACCENT, edgecolor="white",
               linewidth=0.4, zorder=4)
    log_axes(ax, loss_y=True)
    lo, hi = np.nanmin(t["loss"]), np.nanmax(t["loss"])
    ax.set_ylim(lo / 1.05, hi * 1.05)  # slices far from the data would flatten it
    ax.set_xlabel("parameters N")
    ax.set_ylabel("loss")
    handles = [Line2D([], [], color=cmap(norm(C[0])), label=f"C = {sci(C[0])}"),
               Line2D([], [], color=cmap(norm(C[-1])), label=f"C = {sci(C[-1])}"),
               Line2D([], [], linestyle="", marker="*", color=ACCENT, markersize=7,
                      label="vertex N*(C)")]
    legend_below(ax, handles, ncol=2)


def _surface_plane(ax, t, x, res, overlay):
    from difflaws.fit.chinchilla import predict

    N, D = t["params"], t["tokens"]
    n = np.geomspace(N.min() / 2, N.max() * 2, 160)
    d = np.geomspace(D.min() / 2, D.max() * 2, 160)
    NN, DD = np.meshgrid(n, d)
    panels.loss_contours(ax, n, d, predict(x, NN, DD), (N, D))
    marks, handles = panels.marker_of(t)
    panels.scatter_marked(ax, N, D, marks, "0.25", dodge=bool(handles), s=9)
    C = np.geomspace(6 * n.min() * d.min(), 6 * n.max() * d.max(), 200)
    ns, ds, _ = _optimum(x, C)
    a = res.derived.get("a")
    ax.plot(ns, ds, color=ACCENT, label="compute-optimal D*(N*)"
            + (f", a = {a:.3f}" if a is not None else ""), zorder=4)
    log_axes(ax)
    ax.set_xlim(n.min(), n.max())
    ax.set_ylim(d.min(), d.max())
    if overlay is not None:
        frontier.published_plane(ax, overlay, "6P")  # this surface's C is 6·N·D
    ax.set_xlabel("parameters N")
    ax.set_ylabel("tokens D")
    note = [Line2D([], [], color="0.55", linewidth=0.6, label="loss contours")]
    if handles:
        note.append(Line2D([], [], linestyle="", label="same-(N, D) points offset in N"))
    legend_below(ax, ax.get_legend_handles_labels()[0] + note + handles, ncol=1)


# -- isoFLOP profiles ---------------------------------------------------------------------

ISOFLOP = (r"isoFLOP profiles (Approach 2): per-budget parabola in log N, then "
           r"$N^*, D^*, L^* = A\,C^{\alpha}$")
FRONTIER_KEYS = ("N_star", "D_star", "L_star")


def isoflop_profiles(results, path):
    """Per group, its isoFLOP curves with parabolas and vertices (top row); below, the N*, D*
    and L* frontiers of every group on shared axes."""
    groups = list(results.items())
    if len(groups) == 1:  # 2 × 2: the profiles, then N*, D*, L*
        fig, axes = figure(ncols=2, nrows=2, width=PAGE * 0.82, aspect=0.78,
                           layout="constrained")
        profile_axes, frontier_axes = axes[:1], axes[1:]
    else:  # a row of profiles, one per group; the frontiers of all groups below
        ncols = max(len(groups), 3)
        # three panels a row need height for their legends below
        fig, axes = figure(ncols=ncols, nrows=2, width=PAGE * (1.0 + 0.15 * (ncols - 3)),
                           aspect=1.35, layout="constrained")
        profile_axes, frontier_axes = axes[:len(groups)], axes[ncols:ncols + 3]
        for ax in list(axes[len(groups):ncols]) + list(axes[ncols + 3:]):
            fig.delaxes(ax)
    # with several groups the frontier legends carry each group's coefficients
    header(fig, ISOFLOP, results, items_of=_frontier_items if len(groups) == 1 else _nothing)
    palette = _group_colours(results)
    budgets = np.array([o["budget"] for _, r in groups for o in r.extra["optima"]])
    norm, cmap = panels.size_colours(budgets)
    for gi, (group, res) in enumerate(groups):
        optima = res.extra["optima"]
        profiles = [{"x": o["sizes"], "y": o["losses"], "coef": o["coef_logN"],
                     "vertex": (o["N_star"], o["L_star"])} for o in optima]
        ax = profile_axes[gi]
        star = panels.vertex_profiles(ax, profiles, [cmap(norm(o["budget"])) for o in optima],
                                      "vertex (N*, L*)")
        ax.set_xlabel("parameters N")
        ax.set_ylabel("loss")
        ax.set_title("isoFLOP profiles; ★ vertex" if group is None else f"{group}: isoFLOP; ★ vertex")
        legend_below(ax, [star], ncol=1)
        C = np.array([o["budget"] for o in optima])
        for fax, name in zip(frontier_axes, FRONTIER_KEYS):
            y = np.array([o[name] for o in optima])
            frontier.draw(fax, C, y, res.params[name], res.extra["samples"].get(name),
                          color=palette[gi], label=_label(group), level=_level(res),
                          symbols=(name[0] + "^*", "C"))
    panels.size_colorbar(fig, profile_axes[-1], norm, cmap, label="compute C (FLOPs)")
    overlay = frontier.overlay_of(results)
    if overlay is not None and groups:
        for ax, name in zip(frontier_axes[:2], ("N_star", "D_star")):
            frontier.published(ax, overlay, name, _convention(groups[0][1]))
    log_axes(frontier_axes[2], loss_y=True)
    for ax, name, ylabel in zip(frontier_axes, ("N*", "D*", "L*"),
                                ("N* (parameters)", "D* (tokens)", "L* (loss)")):
        ax.set_xlabel("compute C (FLOPs)")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{name}(C); dashed: extrapolation")
        legend_below(ax, ncol=1)
    return save(fig, path)


def _nothing(group, res):
    return []


def _frontier_items(group, res):
    return _law_items(res, FRONTIER_KEYS, "C")


def _law_items(res, keys, x):
    """'N* = A [lo, hi]·C^(α [lo, hi])' per power law of the result."""
    items = []
    for k in keys:
        p, ci = res.params.get(k), res.ci.get(k) or {}
        if p is not None:
            exponent = with_ci("alpha", p["alpha"], ci.get("alpha")).split(" = ", 1)[1]
            items.append(f"{with_ci(k, p['A'], ci.get('A'))}·{x}^({exponent})")
    return items


# -- power laws: a plain one, B*(D) and η*(B) ---------------------------------------------------

def power_law(results, path):
    opts = next(iter(results.values())).options
    x, y = opts.get("x", "x"), opts.get("y", "y")
    fig, axes = figure(width=PAGE * 0.5, aspect=1.0, layout="constrained")
    header(fig, f"power law  {y} = A·{x}^α  (Huber on log residuals)", results,
           ("A", "alpha"))
    for colour, (group, res) in zip(_group_colours(results), results.items()):
        frontier.draw(axes[0], res.extra["x"], res.extra["y"], res.params,
                      res.extra.get("samples"), color=colour, label=_label(group),
                      level=_level(res), symbols=(tex_text(y), tex_text(x)))
    axes[0].set_xlabel(x)
    axes[0].set_ylabel(y)
    axes[0].set_title("data, fit, bootstrap band; dashed: extrapolation")
    legend_below(axes[0], ncol=1)
    return save(fig, path)


HYPER = {  # keyed by the law drawn, as plan_laws names it
    "B_star": dict(
        law=r"optimal batch size  $B^*(D) = A\,D^{\alpha}$",
        profile=("batch size B (tokens)", "tokens to the target D",
                 "per (size, target loss); ★ (B*, D*)", False),
        power=("tokens D*", "B* (tokens)", ("B^*", "D")),
        x="D"),
    "lr_star": dict(
        law=r"optimal learning rate  $\eta^*(B) = A\,B^{\alpha}$",
        profile=("learning rate η", "loss", "per (size, batch, budget); ★ η*", True),
        power=("batch size B (tokens)", "η*", (r"\eta^*", "B")),
        x="B"),
}


def _hyper_law(results, path, law):
    """The groups' profiles with their vertices, and the power law through the vertices."""
    from difflaws.fit.isoflop import vertex

    spec = HYPER[law]
    fig, (left, right) = figure(ncols=2, width=PAGE * 0.82, aspect=1.05, layout="constrained")
    header(fig, spec["law"], results, ("A", "alpha"))
    xlabel, ylabel, title, loss_y = spec["profile"]
    palette = _group_colours(results)
    for gi, (group, res) in enumerate(results.items()):
        kept = res.extra.get("optima") or []
        profiles = [{"x": o["x"], "y": o["y"], "vertex": (o["x_star"], o["y_star"]),
                     "coef": vertex(np.log(o["x"]), np.log(o["y"]))[3]} for o in kept]
        shades = colors(len(kept)) if len(results) == 1 else [palette[gi]] * len(kept)
        star = panels.vertex_profiles(left, profiles, shades, "vertex", loss_y=loss_y)
        frontier.draw(right, res.extra["x"], res.extra["y"], res.params,
                      res.extra.get("samples"), color=palette[gi], label=_label(group),
                      level=_level(res), symbols=spec["power"][2])
    left.set(xlabel=xlabel, ylabel=ylabel, title=title)
    legend_below(left, [star], ncol=1)
    right.set(xlabel=spec["power"][0], ylabel=spec["power"][1],
              title="vertices, fit, bootstrap band; dashed: extrapolation")
    legend_below(right, ncol=1)
    return save(fig, path)


def batch_size_law(results, path):
    return _hyper_law(results, path, "B_star")


def learning_rate_law(results, path):
    return _hyper_law(results, path, "lr_star")


# -- per-run loss curves --------------------------------------------------------------------

CURVES = r"per-run loss curves  $L(D) = C_0 + B_0\,D^{-b}$, read off at compute budgets"
CURVE_MARKS = 10  # markers per run: enough to see the data, few enough to see the fit


def _curve_items(group, res):
    d = res.diagnostics
    return [f"{len(res.params)} runs", f"median b = {sci(d.get('median_b'))}",
            f"min R² = {sci(d.get('min_r2'), 3)}",
            f"convention {res.options.get('convention', '?')}"]


def loss_curves(results, path):
    """Per group: each run's loss against tokens with its fitted L(D), one colour per model
    size and one marker per learning rate or batch; and the read-offs at the compute budgets
    as isoFLOP profiles with their vertices."""
    from difflaws.fit.curves import curve_loss
    from difflaws.fit.isoflop import budget_optima

    fig, axes = figure(ncols=2, nrows=len(results), width=PAGE * 0.82, aspect=1.0,
                       layout="constrained")
    header(fig, CURVES, results, items_of=_curve_items)
    for i, (group, res) in enumerate(results.items()):
        left, right = axes[2 * i: 2 * i + 2]
        t = res.extra["table"]
        runs = np.asarray(t["run"]).astype(str)
        norm, cmap = panels.size_colours(t["params"])
        marks, handles = panels.marker_of(t)
        for fit in res.extra["fits"]:
            m = runs == fit["run"]
            x, y = t["tokens"][m], t["loss"][m]
            colour = cmap(norm(t["params"][m][0]))
            left.plot(x, y, color=colour, alpha=0.3, linewidth=0.7, zorder=1)
            every = slice(None, None, max(1, int(np.ceil(m.sum() / CURVE_MARKS))))
            panels.scatter_marked(left, x[every], y[every], marks[m][every], colour, s=8)
            xs = np.geomspace(x.min(), x.max(), 100)
            left.plot(xs, curve_loss(fit, xs), color=colour, linewidth=1.0, zorder=2)
        log_axes(left, loss_y=True)
        prefix = f"{group}: " if group is not None else ""
        left.set(xlabel="training tokens D", ylabel="loss",
                 title=f"{prefix}loss curves (faint) and fits")
        panels.size_colorbar(fig, left, norm, cmap)
        if handles:
            legend_below(left, handles, ncol=min(3, len(handles)))
        optima, _ = budget_optima(res.extra["points"], edge="drop")
        pnorm, pcmap = panels.size_colours([o["budget"] for o in optima] or [1.0])
        star = panels.vertex_profiles(
            right, [{"x": o["sizes"], "y": o["losses"], "coef": o["coef_logN"],
                     "vertex": (o["N_star"], o["L_star"])} for o in optima],
            [pcmap(pnorm(o["budget"])) for o in optima], "vertex (N*, L*)")
        right.set(xlabel="parameters N", ylabel="loss at the budget",
                  title=f"{prefix}read-offs at compute budgets")
        if optima:
            panels.size_colorbar(fig, right, pnorm, pcmap, label="compute C (FLOPs)")
            legend_below(right, [star], ncol=1)
    return save(fig, path)
