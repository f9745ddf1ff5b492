"""The committed facts-world micro study (docs/studies.md, "A micro Chinchilla study"):
refitting its curves gives the report's table, and the fit lands where the world says.

Where E and α should be.  Only the keys of the facts are random, so a document of
``facts_per_doc`` facts (each key_len + 1 symbols) and an EOS carries facts_per_doc·H(p)
nats, with p_r ∝ r^-s over the n facts; with ``seq_len`` = one document, every window is
one, and the floor is F = facts_per_doc·H(p)/doc_tokens, recomputed here by hand from the
sweep's own [data] table.  A model that knows the M most frequent facts pays about
ln(n_symbols) on the value of any other, so per token it is above F by
(facts_per_doc/doc_tokens)·ln(n_symbols)·Σ_{r>M} p_r ≈ c·(M^(1-s) − n^(1-s)) with
c = (facts_per_doc/doc_tokens)·ln(n_symbols)/((s − 1)·Z), Z = Σ_r r^-s.  With M growing
in proportion to N, that is Chinchilla's N term with α = s − 1 and a constant
E* = F − c·n^(1-s): the fact table is finite, so the power law would reach zero excess
before infinite N, and the fitted constant sits that far below the floor.  The test
allows E 2 s.d. of the log residuals (×F, to nats) either side of E*, and asks α's
interval to hold s − 1."""

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
    return fit("chinchilla", load_points(POINTS), min_step=100, bootstrap=2000)


def report_rows() -> dict:
    return {NAMES[m[1]]: tuple(float(x) for x in m.groups()[1:])
            for m in ROW.finditer(REPORT.read_text(encoding="utf-8"))}


def world() -> dict:
    data = tomllib.loads(SPEC.read_text())["set"]
    source = data["data"]
    doc = source["facts_per_doc"] * (source["key_len"] + 1) + 1
    assert data["train.seq_len"] == doc, "the floor below assumes one document per window"
    return {**source, "doc": doc}


def zipf_weights(source) -> np.ndarray:
    """r^-s for r = 1 … n: p_r before normalising, their sum Z after."""
    return np.arange(1, source["n_facts"] + 1, dtype=float) ** -source["zipf"]


def floor() -> float:
    source = world()
    weights = zipf_weights(source)
    p = weights / weights.sum()
    return source["facts_per_doc"] * float(-(p * np.log(p)).sum()) / source["doc"]


def truncation_offset() -> float:
    """c·n^(1-s): how far below the floor a power law in M puts its constant."""
    source = world()
    s, n = source["zipf"], source["n_facts"]
    Z = float(zipf_weights(source).sum())
    c = source["facts_per_doc"] / source["doc"] * math.log(source["n_symbols"]) / ((s - 1) * Z)
    return c * n ** (1 - s)


def test_the_committed_curves_are_the_sweeps():
    """The spec still builds the runs the data came from, and each curve reaches its end."""
    sweep = load_sweep(SPEC, host=PluginHost(entry_points=False), out="unused")
    points = load_points(POINTS)
    assert sorted(set(points["run"].tolist())) == sorted(m.name for m in sweep.members)
    steps = {m.name: spec.train.steps for m, spec in zip(sweep.members, sweep.run_specs)}
    assert len(steps) == 8 and sorted(steps.values()) == [800] * 3 + [1200] * 5
    for run, last in steps.items():  # a point every 100 steps, to the run's last
        assert sorted(points["step"][points["run"] == run]) == list(range(100, last + 1, 100))


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
    assert F == pytest.approx(0.730, abs=5e-4)  # the report's figure
    E_star = F - truncation_offset()
    assert E_star == pytest.approx(0.705, abs=5e-4)  # the report's figure
    points = load_points(POINTS)
    finals = [points["loss"][points["run"] == r][-1] for r in set(points["run"])]
    E = result.params["E"]
    scatter = 2 * result.diagnostics["residual_std"] * F
    assert abs(E - E_star) <= scatter and E < F < min(finals)
    low, high = result.ci["alpha"]
    assert low < world()["zipf"] - 1 < high
    for name in ("alpha", "beta"):
        assert 0.05 < result.params[name] < 1.5, name
    assert result.diagnostics["loo_r2"] > 0.85


def test_the_fit_is_identified_with_finite_intervals(result):
    """The issue's bar: every parameter interior, with a finite interval, and no warning."""
    assert result.diagnostics["identified"] and result.diagnostics["interior"]
    assert not result.diagnostics.get("warnings")
    for name in ("E", "A", "B", "alpha", "beta"):
        low, high = result.ci[name]
        assert 0 < low < result.params[name] < high < math.inf, name
    assert result.ci["E"][0] > 0.1  # well clear of E's lower bound
