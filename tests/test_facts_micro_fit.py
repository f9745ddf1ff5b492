"""The committed facts-world micro study (docs/studies.md, "A micro Chinchilla study"):
refitting its curves gives the report's table, and the fit lands where the world says.

Where E should be.  Only the keys of the facts are random, so a 31-token document of ten
facts carries 10·H(p) nats with p_r ∝ r^-zipf over the source's facts, and with
``seq_len`` = 31 every window is one document: the floor is F = 10·H(p)/31.  It is
recomputed here from the sweep's own [data] table by hand, not read from the source.
A fit to finite runs may undershoot F by its residual scatter; the test allows
2 s.d. of the log residuals (×F, to nats)."""

import math
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest

from difflaws.fit import fit
from difflaws.fit.table import load_points
from difflaws.plugins import PluginHost
from difflaws.sweep.load import load_sweep

ROOT = Path(__file__).parents[1]
POINTS = ROOT / "specs" / "studies" / "results" / "facts_micro_points.csv"
SPEC = ROOT / "specs" / "sweeps" / "facts_micro.toml"
REPORT = ROOT / "docs" / "studies.md"
ROW = re.compile(r"\| (E|α|β) \| (-?[\d.]+) \| \[([\d.e+-]+), ([\d.e+-]+)\] \|")
NAMES = {"E": "E", "α": "alpha", "β": "beta"}


@pytest.fixture(scope="module")
def result():
    return fit("chinchilla", load_points(POINTS), min_step=400, bootstrap=2000)


def report_rows() -> dict:
    return {NAMES[m[1]]: tuple(float(x) for x in m.groups()[1:])
            for m in ROW.finditer(REPORT.read_text(encoding="utf-8"))}


def floor() -> float:
    data = tomllib.loads(SPEC.read_text())["set"]
    source = data["data"]
    weights = np.arange(1, source["n_facts"] + 1, dtype=float) ** -source["zipf"]
    p = weights / weights.sum()
    doc = source["facts_per_doc"] * (source["key_len"] + 1) + 1
    assert data["train.seq_len"] == doc, "the floor below assumes one document per window"
    return source["facts_per_doc"] * float(-(p * np.log(p)).sum()) / doc


def test_the_committed_curves_are_the_sweeps():
    """The spec still builds the runs the data came from, and each curve reaches its end."""
    sweep = load_sweep(SPEC, host=PluginHost(entry_points=False), out="unused")
    points = load_points(POINTS)
    assert sorted(set(points["run"].tolist())) == sorted(m.name for m in sweep.members)
    assert len(sweep.members) == 8 and len(points) == 8 * 8  # every 200 of 1,600 steps
    assert {spec.train.steps for spec in sweep.run_specs} == {points["step"].max()}


def test_refitting_gives_the_reports_table(result):
    rows = report_rows()
    assert set(rows) == {"E", "alpha", "beta"}
    for name, (value, low, high) in rows.items():
        lo, hi = result.ci[name]
        assert result.params[name] == pytest.approx(value, rel=5e-3), name
        assert hi == pytest.approx(high, rel=5e-3), name
        assert lo == pytest.approx(low, rel=5e-3) or max(lo, low) < 1e-6, name


def test_the_fit_lands_where_the_world_says(result):
    F = floor()
    assert F == pytest.approx(0.942, abs=5e-4)  # the report's figure
    points = load_points(POINTS)
    finals = [points["loss"][points["run"] == r][-1] for r in set(points["run"])]
    E = result.params["E"]
    scatter = result.diagnostics["residual_std"]
    assert F - 2 * scatter * F <= E <= F + 0.01 and E < min(finals)
    for name in ("alpha", "beta"):
        assert 0.05 < result.params[name] < 1.5, name
    assert result.diagnostics["loo_r2"] > 0.9
    assert math.isfinite(result.ci["alpha"][1]) and result.ci["beta"][1] < 3.0
