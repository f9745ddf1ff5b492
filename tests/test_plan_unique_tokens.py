"""``difflaws plan --unique-tokens U``: the compute-optimal run of a data-constrained law,
checked against a brute-force search over N with the law written out independently."""

from __future__ import annotations

import json

import numpy as np
import pytest

from difflaws.cli import main
from difflaws.errors import UserError
from difflaws.plan.data_constrained import plan
from test_fit_data_constrained import TRUE, law

AR = {**TRUE, "E": 1.7, "R_D_star": 4.0}  # lower loss with fresh data, repeats worse
NAMES = ("E", "A", "B", "alpha", "beta", "R_D_star", "R_N_star")


def draws(p, n, seed):
    """Parameter draws around ``p`` (1 % log-normal), standing in for a fit's bootstrap."""
    rng = np.random.default_rng(seed)
    return [[p[k] * float(np.exp(0.01 * rng.standard_normal())) for k in NAMES]
            for _ in range(n)]


def result(p, n_draws=0, seed=0):
    """A fit result as `difflaws fit --law data-constrained --json` writes it."""
    diagnostics = {"interior": True, "max_repeated_epochs": 63.0}
    if n_draws:
        diagnostics["bootstrap"] = {"replicates": n_draws, "level": 0.95,
                                    "draws": {"params": list(NAMES),
                                              "values": draws(p, n_draws, seed)}}
    return {"law": "data-constrained", "params": dict(p), "ci": {}, "diagnostics": diagnostics}


@pytest.fixture
def laws(tmp_path):
    path = tmp_path / "fit.json"
    path.write_text(json.dumps({"law": "data-constrained", "by": "noise", "groups": {
        "masked": result(TRUE, 40, seed=1), "autoregressive": result(AR, 40, seed=2)}}))
    return path


def brute_force(p, C, U, flat=None):
    """argmin over a fine log grid of N of the law at D = C/(6N); with ``flat``, also the
    range of N whose loss is within that relative gap of the minimum."""
    N = np.geomspace(1e4, 1e13, 400_001)
    L = law(p, N, C / (6 * N), U)
    i = int(np.argmin(L))
    if flat is None:
        return N[i], L[i]
    near = N[L <= L[i] * (1 + flat)]
    return N[i], L[i], (near.min(), near.max())


@pytest.mark.parametrize("C, U", [(1e20, 3e10), (1e21, 1e11), (1e20, 1e10)])
def test_optimum_matches_a_brute_force_search(laws, C, U):
    out = plan(laws, C, U)
    for family, p in (("masked", TRUE), ("autoregressive", AR)):
        f = out["families"][family]
        # a flat minimum fixes N only to where the loss is indistinguishable from it
        N, L, (low, high) = brute_force(p, C, U, flat=1e-9)
        assert low * (1 - 1e-4) <= f["params"] <= high * (1 + 1e-4)
        assert high / low < 1.01  # and that range is narrow here: the check has teeth
        assert f["loss"] == pytest.approx(L, rel=1e-9)
        assert f["loss"] <= L  # the refined optimum is no worse than the grid's
        assert f["tokens"] == pytest.approx(C / (6 * f["params"]), rel=1e-12)
        assert f["epochs"] == pytest.approx(f["tokens"] / U, rel=1e-12)
        free_N, free_L = brute_force(p, C, np.inf)
        assert f["unlimited"]["loss"] == pytest.approx(free_L, rel=1e-9)
        assert f["unlimited"]["loss"] <= f["loss"]  # a data limit never helps


def test_the_winner_has_the_lower_loss_and_flips_with_the_data_limit(laws):
    """Autoregressive has the lower loss with fresh data (E 1.7), masked repeats better
    (R_D* 15 vs 4): scarce unique tokens hand the win to masked."""
    C = 1e20
    for U, expected in ((1e9, "masked"), (1e13, "autoregressive")):
        out = plan(laws, C, U)
        losses = {f: brute_force(p, C, U)[1] for f, p in (("masked", TRUE), ("autoregressive", AR))}
        assert out["winner"] == min(losses, key=losses.get) == expected
        assert 0.0 <= out["win_fraction"] <= 1.0


def test_intervals_are_the_percentiles_of_the_draws_optima(laws):
    C, U = 1e20, 3e10  # a well-defined optimum (see above), so each draw's N is too
    f = plan(laws, C, U)["families"]["masked"]
    optima = [brute_force(dict(zip(NAMES, v)), C, U) for v in draws(TRUE, 40, seed=1)]
    for name, values in (("params", [o[0] for o in optima]), ("loss", [o[1] for o in optima])):
        expected = np.percentile(values, [2.5, 97.5])
        assert f["ci"][name] == pytest.approx(expected, rel=5e-4), name
    assert f["draws"] == 40


def test_bad_inputs_are_user_errors(laws, tmp_path):
    with pytest.raises(UserError, match="--unique-tokens 0"):
        plan(laws, 1e20, 0)
    with pytest.raises(UserError, match="--unique-tokens 'many' is not a number"):
        plan(laws, 1e20, "many")
    other = tmp_path / "chin.json"
    other.write_text(json.dumps({"law": "chinchilla", "params": {k: TRUE[k] for k in NAMES[:5]}}))
    with pytest.raises(UserError, match="--laws .*chin.json: no fit in it gives a loss of "
                                        "unique tokens .*--law data-constrained"):
        plan(other, 1e20, 1e9)
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(result({k: v for k, v in TRUE.items() if k != "R_N_star"})))
    with pytest.raises(UserError, match="needs params .*R_N_star"):
        plan(broken, 1e20, 1e9)


def run(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_text_and_json(laws, capsys):
    code, out, err = run(capsys, "plan", "--compute", "1e20", "--unique-tokens", "1e9",
                         "--laws", laws)
    assert code == 0, err
    assert "U = 1e+09 unique tokens" in out and "C = 6·N·D" in out
    assert "winner: masked" in out and "95% CI of loss" in out
    assert "with unlimited data" in out
    assert "extrapolation" in out  # the plan repeats past the 64 epochs the fit saw
    code, out, err = run(capsys, "plan", "--compute", "1e20", "--unique-tokens", "1e9",
                         "--laws", laws, "--json", "--noise", "autoregressive")
    assert code == 0, err
    doc = json.loads(out)
    assert list(doc["families"]) == ["autoregressive"] and doc["winner"] == "autoregressive"
    assert doc["unique_tokens"] == 1e9 and doc["level"] == 0.95


@pytest.mark.parametrize("args, message", [
    (["--unique-tokens", "-5", "--laws", "LAWS"], "--unique-tokens '-5' must be a positive"),
    (["--unique-tokens", "1e9"], "--unique-tokens needs --laws FIT.json"),
    (["--unique-tokens", "1e9", "--laws", "paper"], "--laws paper: a law set of power laws"),
])
def test_cli_bad_inputs_exit_2(laws, capsys, args, message):
    args = [str(laws) if a == "LAWS" else a for a in args]
    code, _, err = run(capsys, "plan", "--compute", "1e20", *args)
    assert code == 2 and message in err and "Traceback" not in err


def test_a_family_without_a_minimum_is_left_out_with_a_warning(tmp_path):
    """A fit that is not identified (here β = 0: more data never helps, so the loss falls
    forever as N grows) has no compute-optimal N; the plan keeps the other families,
    and bad bootstrap draws (an overflowed coefficient, written as null) are dropped."""
    flat = {**TRUE, "beta": 1e-9, "B": 1e-9}
    good = result(TRUE, 10, seed=3)
    good["diagnostics"]["bootstrap"]["draws"]["values"][0][2] = None
    path = tmp_path / "fit.json"
    path.write_text(json.dumps({"law": "data-constrained", "by": "noise", "groups": {
        "masked": good, "uniform": result(flat)}}))
    out = plan(path, 1e20, 3e10)
    assert list(out["families"]) == ["masked"] and out["winner"] == "masked"
    assert out["families"]["masked"]["draws"] == 9
    assert any(w.startswith("uniform: left out") for w in out["warnings"])
    only = tmp_path / "flat.json"
    only.write_text(json.dumps(result(flat)))
    with pytest.raises(UserError, match="no family's fitted loss has a minimum"):
        plan(only, 1e20, 3e10)


def test_families_fitted_at_different_levels_say_their_own(tmp_path):
    from difflaws.plan.data_constrained import describe

    narrow = result(AR, 20, seed=4)
    narrow["diagnostics"]["bootstrap"]["level"] = 0.9
    path = tmp_path / "fit.json"
    path.write_text(json.dumps({"law": "data-constrained", "by": "noise", "groups": {
        "masked": result(TRUE, 20, seed=5), "autoregressive": narrow}}))
    out = plan(path, 1e20, 3e10)
    assert out["level"] is None
    assert {f: e["level"] for f, e in out["families"].items()} == {"masked": 0.95,
                                                                   "autoregressive": 0.9}
    text = describe(out)
    assert "(90%)" in text and "(95%)" in text
