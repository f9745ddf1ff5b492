"""Loss-curve fits, isoFLOP points from single runs, run directories and the results DB."""

from __future__ import annotations

import json

import numpy as np
import pytest

from difflaws.fit import PointTable, fit, load_points
from difflaws.fit.curves import fit_curve
from difflaws.errors import UserError

# L(N, D) = E + A/N^α + B/D^β; along one run N is fixed, so L(D) = C₀ + B·D^−β exactly.
E, A, B, AL, BE = 1.7, 400.0, 400.0, 0.34, 0.34


def curve_table(sizes, tokens, M_over_6P=1.0):
    cols = {k: [] for k in ("run", "step", "tokens", "loss", "params",
                            "flops_per_token_M", "flops_per_token_6P")}
    for i, N in enumerate(sizes):
        for s, D in enumerate(tokens):
            cols["run"].append(f"run{i}")
            cols["step"].append(s + 1)
            cols["tokens"].append(D)
            cols["loss"].append(E + A / N ** AL + B / D ** BE)
            cols["params"].append(N)
            cols["flops_per_token_M"].append(6 * N * M_over_6P)
            cols["flops_per_token_6P"].append(6 * N)
    return PointTable(cols, source="curves.csv")


def test_curve_fit_recovers_exact_parameters():
    S = np.geomspace(2e3, 8e4, 30)
    L = 2.3 + 41.0 * S ** -0.47
    fit = fit_curve(S, L)
    assert fit["C0"] == pytest.approx(2.3, rel=1e-6)
    assert fit["B0"] == pytest.approx(41.0, rel=1e-5)
    assert fit["b"] == pytest.approx(0.47, rel=1e-6)
    assert not fit["at_bound"]


def test_loss_read_off_at_a_budget_in_both_conventions():
    table = curve_table([1e8], np.geomspace(1e8, 1e11, 25), M_over_6P=1.25)
    C = 3e18
    for conv, fpt in (("6P", 6e8), ("M", 7.5e8)):
        res = fit("curves", table, budgets=[C], convention=conv)
        pts = res.extra["points"]
        D = C / fpt
        assert pts["tokens"][0] == pytest.approx(D, rel=1e-12)
        assert pts["loss"][0] == pytest.approx(E + A / 1e8 ** AL + B / D ** BE, rel=1e-7)


def test_budget_outside_every_run_is_a_user_error():
    table = curve_table([1e8, 2e8], np.geomspace(1e8, 1e10, 10))
    with pytest.raises(UserError, match="outside every run's range"):
        fit("curves", table, budgets=[1e25], convention="6P")


def test_isoflop_from_single_constant_lr_runs_recovers_frontier():
    """With α = β and A = B, N*(C) = (C/6)^0.5 exactly (closed form, docs/fitting.md §1)."""
    table = curve_table(np.geomspace(4e7, 4e10, 13), np.geomspace(1e7, 1e12, 40))
    res = fit("isoflop", table, convention="6P", budgets=list(np.geomspace(1e18, 1e20, 5)),
              bootstrap=0)
    assert res.params["N_star"]["alpha"] == pytest.approx(0.5, abs=3e-3)
    n = res.params["N_star"]["A"] * 1e19 ** res.params["N_star"]["alpha"]
    assert n == pytest.approx((1e19 / 6) ** 0.5, rel=0.03)


def _write_run(root, name, N, lr, noise, tokens):
    d = root / name
    d.mkdir(parents=True)
    loss = [E + A / N ** AL + B / D ** BE for D in tokens]
    lines = [json.dumps({"step": i + 1, "tokens": float(D), "train_nelbo": L + 0.01,
                         "val_nelbo": L}) for i, (D, L) in enumerate(zip(tokens, loss))]
    (d / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    (d / "summary.json").write_text(json.dumps({"non_embedding_params": N,
                                                "flops_per_token_M": 7 * N,
                                                "flops_per_token_6P": 6 * N}))
    (d / "spec.toml").write_text(f'[train]\nbatch_size = 8\nseq_len = 128\n'
                                 f'[optimizer]\nlr = {lr}\n[noise]\nkind = "{noise}"\n')


def test_sweep_directory_and_results_db_give_the_same_curves(tmp_path):
    tokens = np.geomspace(1e6, 1e8, 6)
    for i, N in enumerate((1e6, 2e6)):
        _write_run(tmp_path / "sweep", f"r{i}", N, 0.5, "masked", tokens)
    table = load_points(tmp_path / "sweep")
    assert len(table) == 12 and set(table["noise"]) == {"masked"}
    assert table["batch_size"][0] == 8 * 128
    assert table["loss"][0] == pytest.approx(E + A / 1e6 ** AL + B / 1e6 ** BE)  # val, not train

    from difflaws.store.db import ResultsDB

    with ResultsDB(tmp_path / "results.sqlite") as db:
        for i, N in enumerate((1e6, 2e6)):
            db.upsert_run(f"r{i}", name="x", run_dir="x", status="finished", noise_kind="masked",
                          non_embedding_params=int(N), flops_per_token_M=7 * N,
                          flops_per_token_6P=6 * N, batch_size=8, seq_len=128, lr=0.5)
            for s, D in enumerate(tokens):
                db.log_metrics(f"r{i}", {"step": s + 1, "tokens": int(D), "train_nelbo": 3.0,
                                         "val_nelbo": E + A / N ** AL + B / D ** BE})
    from_db = load_points(tmp_path / "results.sqlite")
    assert len(from_db) == 12
    np.testing.assert_allclose(np.sort(from_db["loss"]), np.sort(table["loss"]), rtol=1e-6)


def test_isoloss_points_invert_the_curve():
    from difflaws.fit.curves import isoloss_points

    N = 1e8
    table = curve_table([N], np.geomspace(1e8, 1e11, 25))
    target = E + A / N ** AL + B / 3e9 ** BE  # reached at exactly D = 3e9 tokens
    pts = isoloss_points(table, targets=[target, 1.0])  # 1.0 is below the floor: skipped
    assert len(pts) == 1
    assert pts["tokens"][0] == pytest.approx(3e9, rel=1e-6)
