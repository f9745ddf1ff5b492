"""Identification warnings, read-off ranges and numeric hygiene of every built-in fitter."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from difflaws.fit import PointTable, fit
from difflaws.fit import identification
from difflaws.fit.report import format_result
from test_fit_curves import curve_table
from test_fit_data_constrained import simulated
from test_fit_hyperlaws import batch_table
from test_fit_isoflop import isoflop_table

GRID_N = np.geomspace(1e6, 1e8, 5)
GRID_D = np.geomspace(1e8, 1e10, 5)


def surface(depends_on_n: bool, seed=0) -> PointTable:
    """L = 2 + (400/N^0.3) + 300/D^0.3 on a 5 × 5 grid with 0.2 % noise; without the N term
    the loss does not depend on N, so α (and A) cannot be identified."""
    N, D = (a.ravel() for a in np.meshgrid(GRID_N, GRID_D))
    L = 2.0 + (400.0 * N ** -0.3 if depends_on_n else 0.0) + 300.0 * D ** -0.3
    L = L * np.exp(np.random.default_rng(seed).normal(0, 0.002, N.size))
    return PointTable({"params": N, "tokens": D, "loss": L}, source="surface")


def _flagged(result) -> dict:
    return {w["parameter"]: w for w in result.diagnostics["warnings"]}


def test_loss_without_n_dependence_flags_alpha_loudly():
    res = fit("chinchilla", surface(depends_on_n=False), grid="small", bootstrap=100, seed=1)
    d = res.diagnostics
    assert d["identified"] is False and d["interior"] is False
    w = _flagged(res)["alpha"]
    # an N term that is a constant makes the fit push α to 0 (A·N^-α → A), the box's lower side
    assert w["reason"] == "at lower bound" and w["bound"] == 1e-3
    assert w["spread"][0] <= res.params["alpha"] <= w["spread"][1]
    text = format_result(res)
    line = next(s for s in text.splitlines() if s.startswith("WARNING: alpha"))
    assert "at lower bound" in line and "bound 0.001" in line and "spread [" in line
    doc = json.loads(json.dumps(res.to_dict()))
    assert doc["diagnostics"]["warnings"][0]["parameter"] in _flagged(res)
    assert set(doc["diagnostics"]["warnings"][0]) >= {"parameter", "reason", "bound", "spread",
                                                       "message"}


def test_the_same_grid_with_an_n_term_is_identified():
    res = fit("chinchilla", surface(depends_on_n=True), grid="small", bootstrap=100, seed=1)
    assert res.diagnostics["warnings"] == [] and res.diagnostics["identified"] is True
    assert "WARNING" not in format_result(res)


def test_epoch_chinchilla_fit_is_silent(published_data):
    """Epoch's protocol: drop the 5 highest losses, Hoffmann's grid, Huber δ = 1e-3, a
    bootstrap over the points (here 200 replicates, enough for the interval checks)."""
    res = fit("chinchilla", published_data / "chinchilla_epoch.csv", drop_highest=5,
              bootstrap=200, seed=0)
    assert res.diagnostics["warnings"] == []
    assert res.diagnostics["identified"] is True and res.diagnostics["interior"] is True
    assert "WARNING" not in format_result(res)


def test_check_rules_one_by_one():
    box = {"x": (0.0, 1.0)}
    assert identification.check({"x": 0.5}, {"x": (0.4, 0.6)}, box, ("x",)) == []
    # within 2 % of the upper bound 1.0 counts as at it; 0.97 does not
    assert identification.check({"x": 0.985}, {}, box)[0]["reason"] == "at upper bound"
    assert identification.check({"x": 0.97}, {}, box) == []
    # an interval reaching a bound, an unbounded one, and one wider than 2× the value
    assert identification.check({"x": 0.5}, {"x": (-0.1, 0.6)}, box)[0]["bound"] == 0.0
    assert identification.check({"x": 0.5}, {"x": (0.1, np.inf)}, box)[0]["reason"] == \
        "not identified"
    assert identification.check({"x": 0.1}, {"x": (0.01, 0.25)}, {}, ("x",))[0]["reason"] == \
        "not identified"
    assert identification.check({"x": 0.1}, {"x": (0.01, 0.25)}, {}) == []  # not an exponent
    assert identification.check({"x": float("nan")}, {}, box)[0]["reason"] == "not identified"


def test_curves_flags_a_negative_loss_floor():
    """L(S) = −0.5 + 3·S^(−0.02): positive losses on the logged range, but a floor C₀ < 0
    that no loss can have; the fit recovers it exactly (b = 0.02 is inside the search)."""
    S = np.geomspace(1e3, 1e6, 12)
    cols = {"run": ["neg"] * 12 + ["ok"] * 12, "step": list(range(1, 13)) * 2,
            "tokens": list(S) * 2, "params": [1e6] * 24, "flops_per_token_6P": [6e6] * 24,
            "loss": list(-0.5 + 3.0 * S ** -0.02) + list(1.5 + 30.0 * S ** -0.3)}
    res = fit("curves", PointTable(cols), convention="6P", n_budgets=3)
    assert res.params["neg"]["C0"] == pytest.approx(-0.5, abs=1e-6)
    flagged = _flagged(res)
    assert set(flagged) == {"neg.C0"}
    assert flagged["neg.C0"]["bound"] == 0.0 and flagged["neg.C0"]["reason"] == "at lower bound"
    assert res.diagnostics["identified"] is False


def test_powerlaw_of_a_flat_relation_is_not_identified():
    rng = np.random.default_rng(2)
    C = np.geomspace(1e17, 1e21, 12)
    # ±30 % alternating about a constant: no dependence on C
    flat = fit("powerlaw", PointTable({"flops": C, "params": 5.0
                                       * np.exp(0.3 * (-1.0) ** np.arange(12))}), bootstrap=500)
    assert _flagged(flat)["alpha"]["reason"] == "not identified"
    good = fit("powerlaw", PointTable({"flops": C, "params": 0.1 * C ** 0.5
                                       * np.exp(rng.normal(0, 0.05, 12))}), bootstrap=500)
    assert good.diagnostics["identified"] is True


# -- read-offs --------------------------------------------------------------------------------

def test_readoffs_default_to_the_fitted_range_and_label_extrapolation():
    table = surface(depends_on_n=True)
    C = 6 * table["params"] * table["tokens"]
    res = fit("chinchilla", table, grid="small", bootstrap=0)
    budgets = sorted({float(k.split("@")[1]) for k in res.derived if k.startswith("N_opt@")})
    top = float(f"{C.max():.3g}")
    assert budgets == pytest.approx([float(f"{C.min():.3g}"), top, 10 * top])
    key = f"N_opt@{10 * top:g}"
    assert res.derived["extrapolation"][key] == pytest.approx(10 * top / C.max())
    assert f"N_opt@{top:g}" not in res.derived["extrapolation"]  # inside the data
    line = next(s for s in format_result(res).splitlines() if s.strip().startswith(key))
    assert "(×10 extrapolated)" in line


def test_budgets_past_max_extrapolation_are_omitted_unless_asked_for():
    table = surface(depends_on_n=True)
    top = float((6 * table["params"] * table["tokens"]).max())  # 6e18
    res = fit("chinchilla", table, grid="small", bootstrap=0, budgets=[1e19, 1e21, 1e25])
    assert "N_opt@1e+19" in res.derived and "N_opt@1e+21" not in res.derived
    assert res.diagnostics["omitted_budgets"] == [1e21, 1e25]
    assert "no read-offs at 1e+21, 1e+25" in format_result(res)
    far = fit("chinchilla", table, grid="small", bootstrap=0, budgets=[1e25],
              max_extrapolation=1e12)
    assert far.derived["extrapolation"]["N_opt@1e+25"] == pytest.approx(1e25 / top)


# -- no numeric warnings reach the user ----------------------------------------------------

def _cases():
    C = np.geomspace(1e17, 1e21, 12)
    curves = curve_table(np.geomspace(4e7, 4e10, 7), np.geomspace(1e7, 1e12, 20))
    flat_curves = curve_table([1e8, 2e8], np.geomspace(1e8, 1e10, 10))
    flat_curves.columns["loss"] = np.full(len(flat_curves), 3.0)  # no decrease at all
    return [
        ("chinchilla", surface(False), {"grid": "small", "bootstrap": 50}),
        ("chinchilla", surface(True), {"grid": "small", "bootstrap": 50}),
        ("data-constrained", simulated(sigma=0.01), {"bootstrap": 20}),
        ("powerlaw", PointTable({"flops": C, "params": np.full(12, 5.0)}), {"bootstrap": 200}),
        ("powerlaw", PointTable({"flops": C, "params": 0.1 * C ** 0.5}), {"bootstrap": 200}),
        ("isoflop", isoflop_table(np.geomspace(1e18, 1e21, 6)), {"bootstrap": 100}),
        ("curves", curves, {"convention": "6P"}),
        ("curves", flat_curves, {"convention": "6P"}),
        ("batchsize", batch_table(np.geomspace(1e9, 1e11, 6)), {"bootstrap": 100}),
    ]


@pytest.mark.parametrize("law, table, options", _cases(),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_no_numeric_warning_leaks(law, table, options):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = fit(law, table, **options)
        format_result(res)
        json.dumps(res.to_dict())


# -- a term the data do not see ----------------------------------------------------------------

def _no_n_term_isoflops(budgets, sizes) -> PointTable:
    """isoFLOP points of L = 2 + 300/D^0.3: the loss has no N term at all."""
    table = isoflop_table(budgets, sizes=sizes)
    table.columns["loss"] = 2.0 + 300.0 / table["tokens"] ** 0.3
    return table


@pytest.mark.parametrize("budgets, sizes", [(np.geomspace(1e18, 1e21, 4), 3),
                                            (np.geomspace(1e18, 1e21, 6), 2)])
def test_loss_without_n_term_on_12_isoflop_points_flags_alpha(budgets, sizes):
    """The figure helpers' report: 12 such points, bootstrap 20, the small grid.  The fit
    puts α at its box's edge, or inside it with A/N^α all but 0 on the data; either way
    it must say so, and no exception or numeric warning may come out of the read-offs."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = fit("chinchilla", _no_n_term_isoflops(budgets, sizes), grid="small",
                  bootstrap=20, seed=0)
        format_result(res)
    assert "alpha" in _flagged(res) and res.diagnostics["identified"] is False


def test_negligible_term_is_the_terms_share_of_the_loss_across_the_data():
    from difflaws.fit.chinchilla import negligible_terms

    table = _no_n_term_isoflops(np.geomspace(1e18, 1e21, 4), 3)
    N, D = table["params"], table["tokens"]

    def share_swing(A, alpha):  # A/N^α over L̂ = 2 + A/N^α + 300/D^0.3, by hand
        term = A * N ** -alpha
        share = term / (2.0 + term + 300.0 * D ** -0.3)
        return share.max() - share.min()

    def x(A, alpha):
        return np.array([np.log(A), np.log(300.0), np.log(2.0), alpha, 0.3])

    assert share_swing(1e3, 1.0) < 1e-3 < share_swing(400.0, 0.3)
    [w] = negligible_terms(x(1e3, 1.0), table, {"alpha": (0.9, 1.1)})
    assert w["parameter"] == "alpha" and w["reason"] == "negligible term"
    assert f"{share_swing(1e3, 1.0):.2g}" in w["message"] and w["spread"] == [0.9, 1.1]
    assert negligible_terms(x(400.0, 0.3), table, {}) == []


def test_allocation_of_a_degenerate_draw_is_inf_not_an_exception():
    """β = 0 and B = 0 (an underflowed bootstrap draw): a = β/(α+β) = 0, b = 1, and
    G = (αA/(βB))^(1/(α+β)) is +∞; Python floats would raise ZeroDivisionError."""
    from difflaws.fit.chinchilla import allocation, compute_optimal_frontier

    p = {"E": 1.0, "A": 1.0, "B": 0.0, "alpha": 0.3, "beta": 0.0}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = allocation(p, [1e20])
        laws = compute_optimal_frontier(p)
    assert (out["a"], out["b"], out["G"]) == (0.0, 1.0, np.inf)
    assert out["N_opt@1e+20"] == np.inf and laws["N_star"].A == np.inf
