"""Other studies' published law sets (docs/fitting.md §7): coefficients, conversions, plans, overlays.

Expected values are computed here from the published formulas, never read back from the
law sets under test.
"""

from __future__ import annotations

import json
from decimal import Decimal

import numpy as np
import pytest
import tomli_w

from difflaws.cli import main
from difflaws.fit import fit
from difflaws.plan import emit
from difflaws.plan.figures import shape_measure
from difflaws.plan.laws import LawSet, NoiseLaws, PowerLaw, load_law_set, named_law_sets
from difflaws.plan.predict import predict
from difflaws.plots import figures
from difflaws.plots.frontier import Overlay
from difflaws.plugins import default_host
from test_fit_isoflop import isoflop_table

BUDGETS = np.geomspace(1e17, 1e25, 9)
AR, MASKED = "autoregressive", "masked"

# name: (family, convention, N* unit, arXiv id, {law: (A, alpha)} as the sources print them)
PUBLISHED = {
    "chinchilla": (AR, "6P", "non_embedding_params", "2203.15556",
                   {"N_star": ("0.15", "0.49"), "D_star": ("1.15", "0.51")}),
    "llama3": (AR, "6P", "non_embedding_params", "2407.21783", {"D_star": ("0.299", "0.537")}),
    "deepseek": (AR, "M", "flops_per_token_M", "2401.02954",
                 {"N_star": ("0.1715", "0.5243"), "D_star": ("5.8316", "0.4757")}),
    "mdm-nie": (MASKED, "6P", "non_embedding_params", "2410.18514",
                {"N_star": ("1.029e-4", "0.634"), "D_star": ("1619", "0.366"),
                 "L_star": ("47.97", "-0.06153")}),
}
DEEPSEEK_B = (0.2920, 0.3271)  # B_opt(C) = 0.2920·C^0.3271 tokens (Eq. 1)
DEEPSEEK_LR = (0.3118, -0.1250)  # η_opt(C) = 0.3118·C^−0.1250 (Eq. 1)


def frontier(name):
    laws = load_law_set(name)
    return laws, laws.for_noise(laws.default_noise)[0]


def half_unit(printed: str) -> float:
    """Half a unit in the last printed digit, relative to the value: the rounding bound."""
    d = Decimal(printed)
    return float(Decimal(5).scaleb(d.as_tuple().exponent - 1) / abs(d))


def power(A, alpha, x):
    return float(A) * x ** float(alpha)


# -- coefficients and conventions ------------------------------------------------------------
@pytest.mark.parametrize("name", PUBLISHED)
def test_coefficients_are_the_cited_ones(name):
    family, convention, unit, arxiv, cited = PUBLISHED[name]
    laws, own = frontier(name)
    assert (laws.default_noise, laws.convention, laws.n_star_key) == (family, convention, unit)
    assert laws.noise_names() == [family] and arxiv in laws.source and laws.n_star_note
    for law, (A, alpha) in cited.items():
        assert (getattr(own, law).A, getattr(own, law).alpha) == (float(A), float(alpha))


def test_llama3_model_size_is_the_budget_over_six_tokens():
    _, own = frontier("llama3")
    for C in BUDGETS:
        assert own.N_star(C) == pytest.approx(C / (6 * 0.299 * C ** 0.537), rel=1e-12)


def test_kinds_lists_each_source(capsys):
    assert main(["kinds", "lawset"]) == 0
    out = capsys.readouterr().out
    for name, (*_, arxiv, _) in PUBLISHED.items():
        assert f'kind = "{name}"' in out and arxiv in out


# -- self-consistency: the split spends the budget ---------------------------------------------
@pytest.mark.parametrize("name", ["chinchilla", "deepseek", "mdm-nie"])
def test_model_and_data_laws_multiply_to_the_budget(name):
    """k·N*·D* = C, with k = 6 under C = 6ND and k = 1 under C = M·D.  Each printed
    coefficient is exact to half a unit in its last digit, so the product is to the sum
    of those relative bounds (Chinchilla's two digits: 3.8 %; DeepSeek's: 3e-4)."""
    _, convention, _, _, cited = PUBLISHED[name]
    (A_n, a_n), (A_d, a_d) = cited["N_star"], cited["D_star"]
    k = 6.0 if convention == "6P" else 1.0
    tolerance = half_unit(A_n) + half_unit(A_d)
    _, own = frontier(name)
    for C in BUDGETS:
        assert abs(k * own.N_star(C) * own.D_star(C) / C - 1) <= tolerance
    exponent_rounding = float(Decimal(5).scaleb(Decimal(a_n).as_tuple().exponent - 1)
                              + Decimal(5).scaleb(Decimal(a_d).as_tuple().exponent - 1))
    assert abs(own.N_star.alpha + own.D_star.alpha - 1) <= exponent_rounding


def test_llama3_split_is_exact():
    _, own = frontier("llama3")
    for C in BUDGETS:
        assert 6 * own.N_star(C) * own.D_star(C) == pytest.approx(C, rel=1e-12)


# -- DeepSeek's hyper-parameter laws, from C-form to B*(D) and η*(B) ---------------------------
def test_deepseek_hyper_laws_agree_with_the_compute_form():
    """B*(D*(C)) = B_opt(C) and η*(B_opt(C)) = η_opt(C) at every budget (Eq. 1 and 4)."""
    _, own = frontier("deepseek")
    for C in BUDGETS:
        tokens = 5.8316 * C ** 0.4757
        batch = DEEPSEEK_B[0] * C ** DEEPSEEK_B[1]
        assert own.B_star(tokens) == pytest.approx(batch, rel=1e-12)
        assert own.lr_star(batch) == pytest.approx(DEEPSEEK_LR[0] * C ** DEEPSEEK_LR[1],
                                                   rel=1e-12)
    # the closed forms of the published_lawsets docstring, to the digits printed there
    assert (own.B_star.A, own.B_star.alpha) == pytest.approx((0.08686, 0.68762), rel=1e-4)
    assert (own.lr_star.A, own.lr_star.alpha) == pytest.approx((0.19479, -0.38215), rel=1e-4)


def test_composing_power_laws_is_exact_on_random_laws():
    rng = np.random.default_rng(0)
    for _ in range(20):
        outer = PowerLaw(float(np.exp(rng.normal(0, 3))), float(rng.uniform(-1, 1)))
        inner = PowerLaw(float(np.exp(rng.normal(0, 3))), float(rng.uniform(0.1, 1.5)))
        C = np.geomspace(1e15, 1e25, 5)
        np.testing.assert_allclose(outer.along(inner)(inner(C)), outer(C), rtol=1e-10)


# -- plan --laws NAME ---------------------------------------------------------------------------
def plan_json(capsys, *args):
    code = main(["plan", *map(str, args), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


@pytest.mark.parametrize("name, noise", [("chinchilla", "ar"), ("llama3", "autoregressive"),
                                         ("deepseek", None), ("mdm-nie", None)])
def test_plan_with_each_set(capsys, name, noise):
    family, convention, unit, arxiv, cited = PUBLISHED[name]
    C = 1e23
    plan = plan_json(capsys, "--laws", name, "--compute", C, *(["--noise", noise] if noise else []))
    d_star = power(*cited["D_star"], C)
    n_star = power(*cited["N_star"], C) if "N_star" in cited else C / (6 * d_star)
    assert (plan["noise"], plan["flop_convention"], plan["n_star_unit"]) == (family, convention,
                                                                               unit)
    assert plan["n_star"] == pytest.approx(n_star, rel=1e-12)
    assert plan["d_star"] == pytest.approx(d_star, rel=1e-12)
    assert arxiv in plan["law_source"] and plan["n_star_note"]
    assert abs(plan[unit] / n_star - 1) <= 0.02  # the shape matched on the set's own unit
    if "L_star" in cited:
        assert plan["predicted_nelbo"] == pytest.approx(power(*cited["L_star"], C), rel=1e-12)
        assert plan["predicted_nelbo_annealed"] == plan["predicted_nelbo"]  # already annealed
    else:
        assert plan["predicted_nelbo"] is None


def test_deepseek_plan_batch_and_learning_rate(capsys):
    C = 1e21
    plan = plan_json(capsys, "--laws", "deepseek", "--compute", C)
    assert plan["batch_size_tokens_law"] == pytest.approx(DEEPSEEK_B[0] * C ** DEEPSEEK_B[1],
                                                          rel=1e-12)
    # η at the batch actually used: the budget whose B_opt that batch is, then η_opt there
    budget_of_batch = (plan["batch_size_tokens"] / DEEPSEEK_B[0]) ** (1 / DEEPSEEK_B[1])
    assert plan["lr"] == pytest.approx(DEEPSEEK_LR[0] * budget_of_batch ** DEEPSEEK_LR[1],
                                       rel=1e-12)
    assert any("AdamW" in note for note in plan["law_notes"])


def test_plan_text_shows_source_and_what_n_star_counts(capsys):
    assert main(["plan", "--laws", "chinchilla", "--compute", "1e23"]) == 0
    out = capsys.readouterr().out
    assert "source: Hoffmann et al. 2022" in out and "2203.15556" in out
    assert "N* counts: all parameters, embeddings included" in out


def test_published_sets_borrow_the_default_recipe():
    paper = load_law_set("paper").recipe
    assert paper and "backbone" in paper
    for name in PUBLISHED:
        assert load_law_set(name).recipe == paper


# -- emitted specs --------------------------------------------------------------------------
def planned_tables(name, noise=None, base=None):
    host = default_host()
    laws = load_law_set(name, host)
    measure = shape_measure(laws.recipe["backbone"], 131072, 2048, host)
    p = predict(laws, 1e21, noise or laws.default_noise, measure)
    return p, emit.spec_data(p, laws, host.registry, base)


def test_autoregressive_family_emits_an_objective_and_no_noise_table():
    p, data = planned_tables("chinchilla", "ar")
    assert data["objective"] == {"kind": "autoregressive"} and "noise" not in data
    text = tomli_w.dumps(data)
    assert '[objective]\nkind = "autoregressive"' in text and "[noise]" not in text
    assert "# N* counts: all parameters" in emit.header(p)
    # a base spec's [noise] table is dropped too: such a run cannot have one
    base = {**load_law_set("paper").recipe, "noise": {"kind": "masked"}}
    _, data = planned_tables("llama3", base=base)
    assert data["objective"] == {"kind": "autoregressive"} and "noise" not in data


def test_masked_family_and_the_paper_sets_emit_their_noise_table():
    _, data = planned_tables("mdm-nie")
    assert data["noise"] == {"kind": "masked"} and "objective" not in data
    _, data = planned_tables("paper", "uniform")
    assert data["noise"] == {"kind": "hybrid", "shift": 1000.0} and "objective" not in data


def test_noise_tables_shorthand_still_names_the_noise_table():
    laws = LawSet("x", "x", "M", {"all": NoiseLaws()}, noise_tables={"all": {"kind": "masked"}})
    assert laws.tables_for("all") == {"noise": {"kind": "masked"}}
    assert laws.tables_for("uniform") is None


# -- overlays on the frontier figures ---------------------------------------------------------
@pytest.fixture
def drawn(monkeypatch):
    """The figures the plot functions would save, kept open instead."""
    kept = []
    monkeypatch.setattr(figures, "save", lambda fig, path: kept.append(fig) or [])
    return kept


def overlay_lines(ax):
    """Labelled lines other than the fit's own (a mathtext formula, or the surface's frontier)."""
    return {line.get_label(): line for line in ax.get_lines()
            if not line.get_label().startswith(("_", "$", "compute-optimal"))}


@pytest.fixture(scope="module")
def isoflop_fit():
    return fit("isoflop", isoflop_table(np.geomspace(1e18, 1e21, 5)), bootstrap=0)


def test_isoflop_figure_overlays_published_frontiers(drawn, isoflop_fit, tmp_path):
    overlay = Overlay(named_law_sets("chinchilla,llama3,deepseek,paper-6P", "--overlay"))
    isoflop_fit.extra["overlay"] = overlay
    figures.isoflop_profiles({None: isoflop_fit}, tmp_path / "f.png")
    n_ax, d_ax = drawn[0].axes[1:3]
    n_lines, d_lines = overlay_lines(n_ax), overlay_lines(d_ax)
    # synthetic points lie on C = 6ND, so the figure is in the 6P convention
    assert set(n_lines) == set(d_lines) == {"chinchilla", "llama3", "paper-6P (uniform)"}
    x = n_lines["chinchilla"].get_xdata()
    np.testing.assert_allclose(n_lines["chinchilla"].get_ydata(), 0.15 * x ** 0.49, rtol=1e-12)
    np.testing.assert_allclose(d_lines["llama3"].get_ydata(), 0.299 * x ** 0.537, rtol=1e-12)
    # paper-6P's N* is in 6P FLOPs per token: 6 per non-embedding parameter
    np.testing.assert_allclose(n_lines["paper-6P (uniform)"].get_ydata(),
                               0.00134 / 6 * x ** 0.61776, rtol=1e-12)
    assert x.min() <= 1e18 and x.max() >= 1e21  # over the whole compute axis
    assert overlay.drawn and [n for n in overlay.notes if n.startswith("deepseek")] \
        and all("C = M·D" in n for n in overlay.notes)


def test_overlay_in_the_m_convention_skips_what_does_not_convert(drawn, isoflop_fit, tmp_path):
    overlay = Overlay(named_law_sets("chinchilla,deepseek", "--overlay"))
    isoflop_fit.extra["overlay"] = overlay
    isoflop_fit.options["convention"] = "M"  # as a fit read off loss curves in M records it
    try:
        figures.isoflop_profiles({None: isoflop_fit}, tmp_path / "f.png")
    finally:
        del isoflop_fit.options["convention"]
    n_ax, d_ax = drawn[0].axes[1:3]
    assert not overlay_lines(n_ax)  # DeepSeek's M* is FLOPs per token, not parameters
    x = overlay_lines(d_ax)["deepseek"].get_xdata()
    np.testing.assert_allclose(overlay_lines(d_ax)["deepseek"].get_ydata(),
                               5.8316 * x ** 0.4757, rtol=1e-12)
    assert any(n.startswith("chinchilla") and "6P·D" in n for n in overlay.notes)
    assert any(n.startswith("deepseek") and "FLOPs/token" in n for n in overlay.notes)


def test_overlay_of_an_unknown_convention_draws_nothing(drawn, tmp_path):
    table = isoflop_table(np.geomspace(1e18, 1e21, 5))
    table = table.with_columns(flops=table["flops"] * 1.3)  # neither recorded nor 6·N·D
    res = fit("isoflop", table, bootstrap=0)
    res.extra["overlay"] = overlay = Overlay(named_law_sets("chinchilla", "--overlay"))
    figures.isoflop_profiles({None: res}, tmp_path / "f.png")
    assert not overlay_lines(drawn[0].axes[1]) and "unknown" in overlay.notes[0]


def test_loss_surface_overlays_the_frontier_curve(drawn, tmp_path):
    res = fit("chinchilla", isoflop_table(np.geomspace(1e18, 1e21, 5)), bootstrap=0,
              grid="small")
    res.extra["overlay"] = Overlay(named_law_sets("chinchilla", "--overlay"))
    figures.loss_surface({None: res}, tmp_path / "f.png")
    plane = next(ax for ax in drawn[0].axes if ax.get_ylabel() == "tokens D")  # the N–D plane
    line = overlay_lines(plane)["chinchilla"]
    N = line.get_xdata()
    C = (N / 0.15) ** (1 / 0.49)  # the budget at which N is Chinchilla-optimal
    np.testing.assert_allclose(line.get_ydata(), 1.15 * C ** 0.51, rtol=1e-10)


def test_fit_cli_overlay_writes_the_figure(capsys, tmp_path, published_data):
    out = tmp_path / "llama3.png"
    code = main(["fit", str(published_data / "llama3_isoflops.csv"), "--law", "isoflop",
                 "-o", "bootstrap=0", "--plot", str(out), "--overlay", "chinchilla,llama3"])
    _, err = capsys.readouterr()
    assert code == 0 and out.stat().st_size > 20_000 and "--overlay" not in err


@pytest.mark.parametrize("args, message", [
    (["--plot", "x.png", "--overlay", "chinchila"], "known: chinchilla, deepseek, llama3, mdm-nie"),
    (["--overlay", "chinchilla"], "add --plot"),
])
def test_fit_cli_bad_overlay_exits_2(capsys, tmp_path, published_data, args, message):
    code = main(["fit", str(published_data / "llama3_isoflops.csv"), "--law", "isoflop",
                 *[str(tmp_path / a) if a.endswith(".png") else a for a in args]])
    _, err = capsys.readouterr()
    assert code == 2 and message in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())
