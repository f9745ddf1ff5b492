"""The data-constrained law (docs/fitting.md §8): closed forms, gradient, recovery of known
parameters from simulated data, identification, columns from CSVs and the results DB, CLI."""

from __future__ import annotations

import json
import sqlite3
import warnings

import numpy as np
import pytest

from difflaws.cli import main
from difflaws.errors import UserError
from difflaws.fit import PointTable, fit, load_points
from difflaws.fit import data_constrained as dc
from difflaws.fit.loss_surface import objective
from difflaws.fit.table import check_positive

TRUE = {"E": 1.8, "A": 400.0, "alpha": 0.34, "B": 1500.0, "beta": 0.28,
        "R_D_star": 15.0, "R_N_star": 5.0}


def law(p, N, D, U):
    """The law written out directly (the tests' own, independent of difflaws.fit)."""
    N, D, U = (np.asarray(v, float) for v in (N, D, U))
    with np.errstate(invalid="ignore"):  # U = inf (unlimited data): the D > U branch is unused
        return _law(p, N, D, U)


def _law(p, N, D, U):
    R_D = np.where(D > U, D / U - 1.0, 0.0)
    D_eff = np.where(D > U, U + U * p["R_D_star"] * (1.0 - np.exp(-R_D / p["R_D_star"])), D)
    U_D = np.minimum(U, D)
    N_opt = (p["alpha"] * p["A"] / (p["beta"] * p["B"])) ** (1.0 / p["alpha"]) \
        * U_D ** (p["beta"] / p["alpha"])
    U_N = np.minimum(N, N_opt)
    R_N = N / U_N - 1.0
    N_eff = U_N + U_N * p["R_N_star"] * (1.0 - np.exp(-R_N / p["R_N_star"]))
    return p["E"] + p["A"] / N_eff ** p["alpha"] + p["B"] / D_eff ** p["beta"]


def design(sizes=9, budgets=(1e8, 1e9, 1e10), max_doubling=6):
    """Sizes 3e4..3e8 (most beyond N_opt of their budget, so R_N spans past R_N* = 5) at
    1..64 epochs (R_D up to 63, four times R_D* = 15): both scales are identified."""
    N = np.geomspace(3e4, 3e8, sizes)
    epochs = 2.0 ** np.arange(max_doubling + 1)
    NN, UU, EE = (a.ravel() for a in np.meshgrid(N, np.asarray(budgets), epochs,
                                                  indexing="ij"))
    return NN, UU * EE, UU


def simulated(sigma=0.0, seed=0, p=TRUE, **grid):
    N, D, U = design(**grid)
    L = law(p, N, D, U) * np.exp(sigma * np.random.default_rng(seed).standard_normal(N.size))
    return PointTable({"params": N, "tokens": D, "unique_tokens": U, "loss": L}, source="sim")


# -- the law's closed forms ----------------------------------------------------------------

def test_effective_data_closed_forms():
    # one epoch: D' = D, so D'/U_D = 1 exactly
    assert dc.effective_data_ratio(TRUE, 1.0)[0] == 1.0
    # many epochs: D' → U_D·(1 + R_D*)
    assert dc.effective_data_ratio(TRUE, 1e6)[0] == pytest.approx(1 + TRUE["R_D_star"], rel=1e-12)
    # dD'/dR_D at R_D = 0 is U_D: a first repetition is worth fresh data (finite differences)
    U, h = 1e9, 1e-6
    slope = (U * dc.effective_data_ratio(TRUE, 1.0 + h)[0] - U) / h
    assert slope == pytest.approx(U, rel=1e-5)
    # and the fitter's D'/D read-off at 4 epochs is the closed form g(3)/4
    g3 = 1 + 15 * (1 - np.exp(-3 / 15))
    assert dc.readoffs(TRUE, (4.0,))["effective_data@4_epochs"] == pytest.approx(g3 / 4, rel=1e-12)


def test_prediction_matches_the_law_and_reduces_to_chinchilla():
    N, D, U = design()
    np.testing.assert_allclose(dc.predict(TRUE, N, D, U), law(TRUE, N, D, U), rtol=1e-12)
    # unlimited data (one epoch) and a model below N_opt(U_D): plain E + A/N^α + B/D^β
    N, D = np.array([1e5, 3e5]), np.array([1e10, 2e10])
    assert np.all(N < dc.optimal_params(TRUE, D))
    chin = TRUE["E"] + TRUE["A"] / N ** TRUE["alpha"] + TRUE["B"] / D ** TRUE["beta"]
    np.testing.assert_allclose(dc.predict(TRUE, N, D, np.inf), chin, rtol=1e-13)


def test_optimal_params_is_the_base_laws_compute_optimum():
    """N_opt(U) minimises the base loss at the budget C = 6·N_opt·U (brute force over N)."""
    for U in (1e8, 1e10):
        n_opt = float(dc.optimal_params(TRUE, U))
        C = 6 * n_opt * U
        N = np.geomspace(n_opt / 10, n_opt * 10, 200_001)
        base = TRUE["E"] + TRUE["A"] / N ** TRUE["alpha"] + TRUE["B"] / (C / (6 * N)) ** TRUE["beta"]
        assert N[np.argmin(base)] == pytest.approx(n_opt, rel=2e-4)


def test_extreme_coefficients_give_inf_not_an_error_or_a_warning():
    """A fit that runs α (or α + β) towards 0 raises αA/(βB) to a huge power: the
    identification check and the read-offs must survive it (float pow would raise)."""
    p = {**TRUE, "alpha": 0.01, "beta": 0.005, "A": 1e30}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isinf(dc.optimal_params(p, 1e10))
        assert np.all(np.isfinite(dc.log_optimal_params(p, np.log([1e10, 1e12]))))  # in logs
        assert np.isinf(dc.readoffs(p, (4.0,))["G"])
    # and the frontier `plan --laws` reads from such a fit is refused, not a traceback
    from difflaws.builtins.fitters import DataConstrainedFitterConfig

    for bad in (p, {**TRUE, "alpha": -0.3}):
        with pytest.raises(UserError, match="no finite compute-optimal frontier"):
            DataConstrainedFitterConfig.plan_laws({"params": bad})


def test_objective_gradient_matches_finite_differences_and_holds_the_base():
    table = simulated(sigma=0.01, seed=3)
    data = dc.table_data(table)
    data[4, ::4] = data[0, ::4] - 1.5  # a given unique_params on a quarter of the points
    w = np.random.default_rng(1).integers(0, 3, data.shape[1]).astype(float)
    x = dc.to_x({**TRUE, "alpha": 0.4, "R_D_star": 9.0})
    for hyper in (np.array([1e-3]), np.array([0.5])):  # linear and quadratic Huber parts
        g = np.empty(7)
        objective(x, g, data, w, hyper)
        for k in range(7):
            e = np.zeros(7)
            e[k] = 1e-6
            fd = (objective(x + e, np.empty(7), data, w, hyper)
                  - objective(x - e, np.empty(7), data, w, hyper)) / 2e-6
            assert g[k] == pytest.approx(fd, rel=1e-5, abs=1e-6), k
    held = np.empty(7)
    objective(x, held, data, w, np.array([1e-3, dc.HOLD_BASE]))
    assert np.all(held[:5] == 0.0) and np.all(held[5:] != 0.0)


# -- recovery of known parameters -------------------------------------------------------------

def test_recovers_every_parameter_from_noise_free_data():
    res = fit("data-constrained", simulated(), bootstrap=0)
    for name, value in TRUE.items():
        assert res.params[name] == pytest.approx(value, rel=1e-6), name
    d = res.diagnostics
    assert d["interior"] and d["weakly_identified"] == [] and d["at_bound"] == []
    assert d["max_repeated_epochs"] == pytest.approx(63.0)


def test_recovers_parameters_from_noisy_data_and_intervals_cover_them():
    """0.5 % log-normal noise on 189 points.  Tolerances: a few bootstrap standard errors
    (A, B: 5 %; E: 0.05; α, β: 0.01; R_D*, R_N*: 10 %), and every 95 % interval covers the
    truth."""
    res = fit("data-constrained", simulated(sigma=0.005, seed=0), bootstrap=200, seed=1)
    p, ci = res.params, res.ci
    assert p["A"] == pytest.approx(TRUE["A"], rel=0.05)
    assert p["B"] == pytest.approx(TRUE["B"], rel=0.05)
    assert p["E"] == pytest.approx(TRUE["E"], abs=0.05)
    assert p["alpha"] == pytest.approx(TRUE["alpha"], abs=0.01)
    assert p["beta"] == pytest.approx(TRUE["beta"], abs=0.01)
    assert p["R_D_star"] == pytest.approx(TRUE["R_D_star"], rel=0.10)
    assert p["R_N_star"] == pytest.approx(TRUE["R_N_star"], rel=0.10)
    for name, value in TRUE.items():
        assert ci[name][0] <= value <= ci[name][1], (name, ci[name])
    g3 = (1 + 15 * (1 - np.exp(-3 / 15))) / 4
    assert ci["effective_data@4_epochs"][0] <= g3 <= ci["effective_data@4_epochs"][1]
    boot = res.diagnostics["bootstrap"]
    assert boot["failed"] == 0 and boot["moved_fraction"] > 0.9
    assert boot["draws"]["params"] == list(dc.PARAMS) and len(boot["draws"]["values"]) == 100


def test_two_stage_fit_holds_the_base_and_recovers_the_scales(tmp_path):
    base = tmp_path / "base.json"
    base.write_text(json.dumps({"law": "chinchilla", "params": {k: TRUE[k] for k in dc.BASE}}))
    res = fit("data-constrained", simulated(sigma=0.002, seed=5), base=str(base), bootstrap=50)
    assert all(res.params[k] == pytest.approx(TRUE[k], rel=1e-12) for k in dc.BASE)
    assert res.params["R_D_star"] == pytest.approx(15.0, rel=0.05)
    assert res.params["R_N_star"] == pytest.approx(5.0, rel=0.05)
    # held coefficients get no interval; the scales' intervals are about their estimates
    assert "A" not in res.ci and "G" not in res.ci
    assert res.ci["R_D_star"][0] <= res.params["R_D_star"] <= res.ci["R_D_star"][1]
    assert res.options["base"] == str(base)


def test_too_little_repetition_is_flagged_weakly_identified():
    """Up to 4 epochs (R_D ≤ 3) cannot pin R_D* = 15: the fit must say so."""
    res = fit("data-constrained", simulated(sigma=0.003, seed=2, max_doubling=2), bootstrap=0)
    assert "R_D_star" in res.diagnostics["weakly_identified"]
    assert res.diagnostics["interior"] is False


def test_inputs_the_law_cannot_use_are_user_errors(tmp_path):
    t = simulated()
    no_unique = PointTable({k: t[k] for k in ("params", "tokens", "loss")}, source="runs.csv")
    with pytest.raises(UserError, match="runs.csv: no column 'unique_tokens'.*epochs"):
        fit("data-constrained", no_unique)
    fresh = t.with_columns(unique_tokens=t["tokens"])
    with pytest.raises(UserError, match="no point repeats data"):
        fit("data-constrained", fresh)
    bad = t.with_columns(unique_tokens=np.where(np.arange(len(t)) == 4, -1.0, t["unique_tokens"]))
    with pytest.raises(UserError, match="row 5: unique_tokens is -1, not positive"):
        fit("data-constrained", bad)
    with pytest.raises(UserError, match="-o base=.*cannot read"):
        fit("data-constrained", t, base=str(tmp_path / "missing.json"))


# -- columns from CSVs and the results DB ---------------------------------------------------

def test_csv_epochs_column_gives_unique_tokens(tmp_path):
    csv = tmp_path / "runs.csv"
    csv.write_text("params,tokens,epochs,loss\n1e8,4e9,4,3.1\n1e8,1e9,0.5,3.4\n")
    t = load_points(csv)
    np.testing.assert_allclose(t["unique_tokens"], [1e9, 1e9])  # min(tokens, tokens/epochs)
    # an epoch count that is not positive gives no unique_tokens, which the law reports
    csv.write_text("params,tokens,epochs,loss\n1e8,4e9,4,3.1\n1e8,1e9,0,3.4\n")
    t = load_points(csv)
    assert np.isnan(t["unique_tokens"][1])
    with pytest.raises(UserError, match="runs.csv:3: unique_tokens is missing or NaN"):
        check_positive(t, "unique_tokens")


def write_db(path, runs, with_columns=True):
    """A results DB with the real schema; ``runs``: (run_id, noise, params, tokens, pool,
    [(step, tokens, loss), ...]).  Without ``with_columns``, one written before runs
    recorded their pool."""
    from difflaws.store.db import schema

    conn = sqlite3.connect(path)
    conn.executescript(schema())
    if not with_columns:
        for col in ("unique_tokens", "epochs"):
            conn.execute(f"ALTER TABLE runs DROP COLUMN {col}")
    for run_id, noise, params, tokens, pool, metrics in runs:
        extra = {"unique_tokens": min(tokens, pool), "epochs": tokens / pool} \
            if with_columns else {}
        cols = {"run_id": run_id, "name": run_id, "run_dir": run_id, "status": "finished",
                "noise_label": noise, "non_embedding_params": params, "batch_size": 8,
                "seq_len": 128, "lr": 1e-3, "tokens": tokens, **extra}
        conn.execute(f"INSERT INTO runs ({', '.join(cols)}) VALUES "
                     f"({', '.join('?' * len(cols))})", list(cols.values()))
        conn.executemany("INSERT INTO metrics (run_id, step, tokens, train_nelbo) VALUES "
                         "(?, ?, ?, ?)", [(run_id, *m) for m in metrics])
    conn.commit()
    conn.close()
    return path


def _db(path, with_columns: bool):
    # run a: 3e9 tokens over a 1e9 pool (3 epochs); run b: 5e8 tokens of a 2e9 pool
    runs = [(name, "autoregressive", 10_000_000, tokens, pool,
             [(step, tokens * step // 3, 4.0 - step / 10) for step in (1, 2, 3)])
            for name, tokens, pool in (("a", 3_000_000_000, 1_000_000_000),
                                       ("b", 500_000_000, 2_000_000_000))]
    return write_db(path, runs, with_columns)


def test_results_db_gives_unique_tokens_and_epochs_per_step(tmp_path):
    t = load_points(_db(tmp_path / "results.sqlite", with_columns=True))
    a, b = t["run"] == "a", t["run"] == "b"
    np.testing.assert_allclose(t["tokens"][a], [1e9, 2e9, 3e9])
    np.testing.assert_allclose(t["unique_tokens"][a], [1e9, 1e9, 1e9])  # min(tokens, pool)
    np.testing.assert_allclose(t["epochs"][a], [1.0, 2.0, 3.0])  # tokens / pool
    np.testing.assert_allclose(t["unique_tokens"][b], t["tokens"][b])
    np.testing.assert_allclose(t["epochs"][b], t["tokens"][b] / 2e9)
    assert set(t["noise"]) == {"autoregressive"}


def test_older_results_db_lacks_the_columns(tmp_path):
    t = load_points(_db(tmp_path / "old.sqlite", with_columns=False))
    assert "unique_tokens" not in t and "epochs" not in t and len(t) == 6
    with pytest.raises(UserError, match="no column 'unique_tokens'"):
        t.require("unique_tokens", hint="add it")
    with pytest.raises(UserError, match="old.sqlite: no column 'unique_tokens'"):
        fit("data-constrained", t)


# -- the command line -------------------------------------------------------------------------

def test_cli_fits_a_results_db_by_family_on_final_losses(tmp_path, capsys):
    """Two families of runs in one DB, each logging a mid-run point whose loss is off the
    law: only the final points are fitted, and each family's R_D* comes back."""
    families = {"masked": TRUE, "autoregressive": {**TRUE, "E": 1.7, "R_D_star": 4.0}}
    N, D, U = design(sizes=5, max_doubling=5)
    runs = []
    for noise, p in families.items():
        final = law(p, N, D, U)
        runs += [(f"{noise}/{i}", noise, int(n), int(d), int(u),
                  [(1, int(d) // 2, 2.0 * v), (2, int(d), float(v))])
                 for i, (n, d, u, v) in enumerate(zip(N, D, U, final))]
    db = write_db(tmp_path / "results.sqlite", runs)
    code, out, err = run(capsys, "fit", db, "--law", "data-constrained", "--by", "noise",
                         "--json", "--bootstrap", "0")
    assert code == 0, err
    groups = json.loads(out)["groups"]
    for noise, p in families.items():
        assert groups[noise]["params"]["R_D_star"] == pytest.approx(p["R_D_star"], rel=1e-4)
        assert groups[noise]["params"]["E"] == pytest.approx(p["E"], rel=1e-4)
        assert groups[noise]["diagnostics"]["n_points"] == N.size


def run(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_fit_json_plot_and_plan(tmp_path, capsys):
    t = simulated(sigma=0.003, seed=4, sizes=5, max_doubling=5)
    rows = zip(t["params"], t["tokens"], t["unique_tokens"], t["loss"])
    csv = tmp_path / "dc.csv"
    csv.write_text("params,tokens,unique_tokens,loss\n"
                   + "".join(f"{n:.9g},{d:.9g},{u:.9g},{v:.12g}\n" for n, d, u, v in rows))
    png = tmp_path / "dc.png"
    code, out, err = run(capsys, "fit", csv, "--law", "data-constrained", "--json",
                         "--bootstrap", "30", "--plot", png)
    assert code == 0, err
    res = json.loads(out)
    assert res["law"] == "data-constrained" and set(dc.PARAMS) <= set(res["params"])
    assert res["params"]["R_D_star"] == pytest.approx(15.0, rel=0.15)
    assert "effective_data@16_epochs" in res["derived"]
    assert len(res["diagnostics"]["bootstrap"]["draws"]["values"]) == 30
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    assert png.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-"
    # the JSON feeds plan --unique-tokens as written
    laws = tmp_path / "fit.json"
    laws.write_text(out)
    code, out, err = run(capsys, "plan", "--compute", "1e20", "--unique-tokens", "1e9",
                         "--laws", laws, "--json")
    assert code == 0, err
    plan = json.loads(out)["families"]["all"]
    assert plan["epochs"] == pytest.approx(plan["tokens"] / 1e9)
    assert plan["ci"]["loss"][0] <= plan["loss"] <= plan["ci"]["loss"][1]


def test_cli_fit_bad_base_exits_2(tmp_path, capsys):
    csv = tmp_path / "dc.csv"
    csv.write_text("params,tokens,unique_tokens,loss\n" + "".join(
        f"{1e6 * (i + 1)},{1e9 * (i % 4 + 1)},1e9,{3 + 1 / (i + 1)}\n" for i in range(12)))
    code, _, err = run(capsys, "fit", csv, "--law", "data-constrained", "-o",
                       f"base='{tmp_path / 'nope.json'}'")
    assert code == 2 and "-o base=" in err and "nope.json" in err and "Traceback" not in err
