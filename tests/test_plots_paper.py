"""Every law's figure is fit for a paper: a vector PDF and a 300-dpi PNG, no text on text,
no legend on data, a compute-optimal frontier over compute, repeated points kept apart,
and a fit that is not identified says so in its header."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.text import Text
from PIL import Image

from difflaws.fit import PointTable, fit
from difflaws.plots import figures, labels, style
from difflaws.plots.data_constrained import draw as draw_data_constrained
from difflaws.plots.overlap import overlapping_texts, points_under_legends
from test_fit_curves import curve_table
from test_fit_data_constrained import simulated
from test_fit_hyperlaws import LR_LAW, batch_table
from test_fit_isoflop import isoflop_table

BUDGETS = np.geomspace(1e18, 1e21, 4)


def two_lr_table():
    """Every (N, D) twice: at η = 1e-3 (2 % worse) and 3e-3."""
    t = isoflop_table(BUDGETS, sizes=6, noise=0.01, seed=0)
    cols = {k: np.concatenate([t[k], t[k]]) for k in ("params", "tokens", "flops", "loss")}
    cols["lr"] = np.repeat([1e-3, 3e-3], len(t))
    cols["loss"] = cols["loss"] * np.where(cols["lr"] < 2e-3, 1.02, 1.0)
    return PointTable(cols, source="two_lr.csv")


def lr_table():
    rng = np.random.default_rng(0)
    cols = {"params": [], "batch_size": [], "budget": [], "lr": [], "loss": []}
    for B in np.geomspace(1.6e4, 2e6, 6):
        for u in np.linspace(-1.0, 1.0, 5):
            cols["params"].append(2e8)
            cols["batch_size"].append(B)
            cols["budget"].append(1e19)
            cols["lr"].append(LR_LAW[0] * B ** LR_LAW[1] * np.exp(u))
            cols["loss"].append(2.9 * np.exp(0.05 * u * u + rng.normal(0, 0.002)))
    return PointTable(cols, source="lr.csv")


# law, figure function, table, fit options: small bootstraps keep each case ~1 s
CASES = {
    "chinchilla": (figures.loss_surface, two_lr_table,
                   {"bootstrap": 20, "grid": "small"}),
    "isoflop": (figures.isoflop_profiles,
                lambda: isoflop_table(np.geomspace(1e18, 1e21, 6), noise=0.005),
                {"bootstrap": 20}),
    "curves": (figures.loss_curves,
               lambda: curve_table(np.geomspace(1e7, 1e9, 4), np.geomspace(1e8, 1e11, 20)),
               {"convention": "6P"}),
    "batchsize": (figures.batch_size_law, lambda: batch_table(np.geomspace(1e9, 1e11, 5)),
                  {"bootstrap": 20}),
    "lr": (figures.learning_rate_law, lr_table, {"bootstrap": 20}),
    "powerlaw": (figures.power_law, lambda: PointTable({
        "flops": np.geomspace(1e17, 1e21, 8),
        "params": 0.1 * np.geomspace(1e17, 1e21, 8) ** 0.5
        * np.exp(np.random.default_rng(0).normal(0, 0.05, 8))}), {"bootstrap": 20}),
    "data-constrained": (draw_data_constrained, lambda: simulated(sigma=0.01, sizes=5),
                         {"bootstrap": 10}),
}


@pytest.fixture(scope="module")
def fitted():
    return {law: fit(law, make(), **opts) for law, (_, make, opts) in CASES.items()}


@pytest.fixture
def kept(monkeypatch):
    """The figures the plot functions would save, kept open instead (and drawn once)."""
    out = []

    def keep(fig, path):
        out.append(fig)
        return []
    for module in (figures, __import__("difflaws.plots.data_constrained",
                                       fromlist=["save"])):
        monkeypatch.setattr(module, "save", keep)
    return out


def draw(law, results, kept):
    CASES[law][0](results, "unused.png")
    return kept[-1]


SLOW_TO_SAVE = ("chinchilla", "isoflop", "curves", "data-constrained")  # ~3 s each


@pytest.mark.parametrize("law", [pytest.param(law, marks=pytest.mark.slow)
                                 if law in SLOW_TO_SAVE else law for law in CASES])
def test_files_are_a_300_dpi_png_and_a_vector_pdf(law, fitted, tmp_path):
    png, pdf = CASES[law][0]({None: fitted[law]}, tmp_path / f"{law}.png")
    with Image.open(png) as image:
        assert image.format == "PNG"
        assert image.info["dpi"] == pytest.approx((style.DPI, style.DPI), abs=0.01)
        # the pixel size is the figure's inches × 300 (bbox "tight" trims, so at least 1 inch)
        assert min(image.size) >= style.DPI
    head = pdf.read_bytes()
    assert head[:5] == b"%PDF-" and b"/Font" in head  # text kept as text: a vector file
    assert not list(tmp_path.glob(".*"))  # atomic writes leave no temporary file


@pytest.mark.parametrize("law", CASES)
def test_no_text_overlaps_and_no_legend_hides_data(law, fitted, kept):
    fig = draw(law, {None: fitted[law]}, kept)
    assert overlapping_texts(fig) == []
    assert points_under_legends(fig) == []


@pytest.mark.slow
def test_grouped_figures_stay_clear(fitted, kept):
    """--by noise: two groups per figure, each its own rows or colours."""
    for law in ("chinchilla", "isoflop"):
        res = fitted[law]
        fig = draw(law, {"masked": res, "uniform": res}, kept)
        assert overlapping_texts(fig) == [] and points_under_legends(fig) == []


def test_the_overlap_checks_can_fail():
    fig, (ax,) = style.figure()
    ax.scatter([0.5], [0.5])
    ax.text(0.1, 0.1, "first label", transform=ax.transAxes)
    ax.text(0.12, 0.1, "second label", transform=ax.transAxes)
    ax.legend(handles=[ax.scatter([], [], label="covers the point")], loc="center")
    # the two texts share a baseline 2 % of the axes apart; the centred legend sits on the point
    assert ("first label", "second label") in overlapping_texts(fig)
    assert points_under_legends(fig) == [(0, 1)]


def _fitted_frontier_lines(fig, symbol):
    """The fit's own line (label '$N^* = ...$' or '$L^*...') in the axes titled symbol(C)."""
    ax = next(a for a in fig.axes if a.get_title().startswith(f"{symbol}(C)"))
    return [line for line in ax.get_lines() if line.get_label().startswith("$")]


def test_chinchilla_frontier_is_the_allocation_over_compute(fitted, kept):
    """N*(C) = G·(C/6)^a from the fitted coefficients, increasing in C, not a vertical line."""
    res = fitted["chinchilla"]
    fig = draw("chinchilla", {None: res}, kept)
    p = res.params
    a = p["beta"] / (p["alpha"] + p["beta"])
    G = (p["alpha"] * p["A"] / (p["beta"] * p["B"])) ** (1 / (p["alpha"] + p["beta"]))
    for symbol, exponent, scale in (("N*", a, G), ("D*", 1 - a, 1 / G)):
        (line,) = _fitted_frontier_lines(fig, symbol)
        C, y = line.get_xdata(), line.get_ydata()
        assert np.all(np.diff(C) > 0) and np.all(np.diff(y) > 0)
        assert C[-1] / C[0] > 10  # spans the data's compute, not one budget
        np.testing.assert_allclose(y, scale * (C / 6) ** exponent, rtol=1e-9)


def test_isoflop_frontier_is_monotone_in_compute(fitted, kept):
    fig = draw("isoflop", {None: fitted["isoflop"]}, kept)
    for symbol in ("N*", "D*"):
        (line,) = _fitted_frontier_lines(fig, symbol)
        assert np.all(np.diff(line.get_xdata()) > 0) and np.all(np.diff(line.get_ydata()) > 0)


def _offsets_at(ax, x, y):
    """Scatter artists of ``ax`` with a point within 10 % of (x, y) in log space, and the
    offsets of that point."""
    found = []
    for c in ax.collections:
        xy = np.asarray(c.get_offsets(), float)
        xy = xy[np.all(xy > 0, axis=1)]  # contour and band artists hold no points
        if len(xy):
            near = np.all(np.abs(np.log(xy / [x, y])) < np.log(1.1), axis=1)
            if near.any():
                found.append((c, xy[near][0]))
    return found


def test_points_that_share_n_and_d_are_distinct_artists(fitted, kept):
    fig = draw("chinchilla", {None: fitted["chinchilla"]}, kept)
    t = fitted["chinchilla"].extra["table"]
    N, D = t["params"][0], t["tokens"][0]
    plane = next(a for a in fig.axes if a.get_ylabel() == "tokens D")
    found = _offsets_at(plane, N, D)
    assert len(found) == 2  # one artist per learning rate
    (first, p1), (second, p2) = found
    assert first.get_paths()[0] != second.get_paths()[0] or \
        not np.array_equal(first.get_facecolors(), second.get_facecolors())
    assert p1[0] != p2[0] and p1[1] == p2[1] == pytest.approx(D)  # dodged in N only
    legend_texts = {t.get_text() for leg in fig.legends + [a.get_legend() for a in fig.axes
                                                          if a.get_legend()]
                    for t in leg.get_texts()}
    assert {"η = 1.0×10⁻³", "η = 3.0×10⁻³"} <= legend_texts


def _header(fig) -> Text:
    return fig._suptitle


def test_header_states_coefficients_with_intervals(fitted, kept):
    res = fitted["chinchilla"]
    fig = draw("chinchilla", {None: res}, kept)
    text = _header(fig).get_text()
    lo, hi = res.ci["alpha"]
    assert f"α = {labels.sci(res.params['alpha'])} [{labels.sci(lo)}, {labels.sci(hi)}]" in text
    assert "20 bootstrap replicates" in text and "not identified" not in text
    assert _header(fig).get_color() == "black"


def test_an_unidentified_fit_is_flagged_and_no_raw_exponent_shows(fitted, kept):
    """The shipped micro sweep's fit: α = 76.9 and A = 2.7e269, at the bound."""
    res = fitted["chinchilla"]
    flagged = type(res)(law=res.law, params={**res.params, "A": 2.696e269, "alpha": 76.9},
                        ci={**res.ci, "A": [1e150, float("inf")]}, derived=res.derived,
                        diagnostics={**res.diagnostics, "identified": False, "warnings": [
                            {"parameter": "alpha", "reason": "at upper bound",
                             "message": "alpha = 76.9 is at the upper bound"},
                            {"parameter": "A", "reason": "not identified", "message": "..."}]},
                        options=res.options, extra=res.extra)
    fig = draw("chinchilla", {None: flagged}, kept)
    text = _header(fig).get_text()
    assert "not identified: α (at upper bound); A" in text
    assert "A = 2.7×10²⁶⁹ [1.0×10¹⁵⁰, ∞]" in text
    assert "e+269" not in text and "e269" not in text
    assert _header(fig).get_color() == style.WARNING
    assert overlapping_texts(fig) == []


@pytest.mark.parametrize("value, text", [
    (2.696e269, "2.7×10²⁶⁹"), (0.3393, "0.339"), (-3e-5, "−3.0×10⁻⁵"), (999.6, "1.0×10³"),
    (9.96e7, "1.0×10⁸"), (207.0, "207"), (float("inf"), "∞"), (float("nan"), "?")])
def test_short_scientific_form(value, text):
    assert labels.sci(value) == text


def test_curves_figure_flags_runs_at_a_bound(fitted, kept):
    res = fitted["curves"]
    res.diagnostics["at_bound"] = ["run2"]
    try:
        fig = draw("curves", {None: res}, kept)
    finally:
        res.diagnostics["at_bound"] = []
    assert "not identified: run2 (at a bound)" in _header(fig).get_text()
