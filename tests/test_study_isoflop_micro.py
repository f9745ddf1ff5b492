"""The committed micro isoFLOP study: its data is what the sweep says, and refitting it gives
the report's numbers (docs/studies.md).

The expected values are not written here: they are read from the report's table, so the
report and this test cannot drift apart, and a change to the fitters that moves an exponent
in its third decimal fails until the report is regenerated."""

import math
import re
from pathlib import Path

import numpy as np
import pytest

from difflaws.fit import fit_by
from difflaws.fit.table import load_points
from difflaws.plugins import PluginHost
from difflaws.sweep.load import load_sweep

ROOT = Path(__file__).parents[1]
POINTS = ROOT / "specs" / "studies" / "results" / "isoflop_micro_points.csv"
REPORT = ROOT / "docs" / "studies.md"
SWEEP = ROOT / "specs" / "studies" / "isoflop_micro.toml"
# the options of the report's `difflaws fit` command
OPTIONS = dict(min_step=100, budgets=[2e11, 3e11, 4.5e11, 7e11, 1e12, 1.5e12, 2.2e12, 3.3e12,
                                      5e12], edge="drop", bootstrap=2000)
LAWS = ("N_star", "D_star", "L_star")
CELL = re.compile(r"(-?\d+\.\d+) \[(-?\d+\.\d+), (-?\d+\.\d+)\]")


def report_table() -> dict:
    """family → {law: (value, low, high)} and the budget count, from the report's table."""
    rows = {}
    for line in REPORT.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 5 and cells[0] in ("autoregressive", "masked", "uniform"):
            laws = {law: tuple(float(v) for v in CELL.fullmatch(cell).groups())
                    for law, cell in zip(LAWS, cells[1:4])}
            rows[cells[0]] = (laws, int(cells[4]))
    return rows


@pytest.fixture(scope="module")
def results():
    return fit_by("isoflop", POINTS, "noise", **OPTIONS)


def test_the_report_lists_every_family():
    assert set(report_table()) == {"autoregressive", "masked", "uniform"}


def test_refitting_the_committed_data_gives_the_reports_numbers(results):
    for family, (laws, n_budgets) in report_table().items():
        res = results[family]
        assert res.diagnostics["n_budgets"] == n_budgets
        for law, (value, low, high) in laws.items():
            ci = res.ci[law]["alpha"]
            got = (res.params[law]["alpha"], ci[0], ci[1])
            # the report rounds to three decimals
            assert np.allclose(got, (value, low, high), atol=5.01e-4), (family, law, got)


def test_the_reports_ordering_claims_hold(results):
    """N*: uniform above masked; D*: masked above uniform; L*: masked steeper (not the
    paper's ordering), and the diffusion intervals overlap (no ordering is measured)."""
    a = {f: {law: results[f].params[law]["alpha"] for law in LAWS} for f in results}
    assert a["uniform"]["N_star"] > a["masked"]["N_star"]
    assert a["masked"]["D_star"] > a["uniform"]["D_star"]
    assert a["masked"]["L_star"] < a["uniform"]["L_star"]
    lo_m, hi_m = results["masked"].ci["N_star"]["alpha"]
    lo_u, hi_u = results["uniform"].ci["N_star"]["alpha"]
    assert lo_u < hi_m and lo_m < hi_u


def test_the_committed_data_is_the_sweeps_design():
    """21 runs, 7 sizes per family, only the two smallest sizes passing over the training
    data more than once (at most 1.87 epochs, as the report says), and each size's curve
    reaching the horizon the sweep file gives it."""
    sweep = load_sweep(SWEEP, host=PluginHost(entry_points=False), out="unused")
    table = load_points(POINTS)
    runs = sorted(set(table["run"].tolist()))
    assert runs == sorted(m.name for m in sweep.members)
    repeated = {r for r, e in zip(table["run"], table["epochs"]) if e > 1.0}
    assert {r.split("transformer-")[1].split("-16_")[0] for r in repeated} == {"L1-D16", "L1-D32"}
    assert table["epochs"].max() == pytest.approx(1.87, abs=5e-3)
    steps = {m.name: spec.train.steps for m, spec in zip(sweep.members, sweep.run_specs)}
    for run in runs:
        rows = table["run"] == run
        assert table["step"][rows].max() == steps[run]
        assert len({f for f in table["noise"][rows]}) == 1
    families = {f: len({r for r, g in zip(table["run"], table["noise"]) if g == f})
                for f in set(table["noise"].tolist())}
    assert families == {"autoregressive": 7, "masked": 7, "uniform": 7}
    assert not any(math.isnan(v) for v in table["loss"])
