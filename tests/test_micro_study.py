"""End to end: a micro scaling study on the Markov source, from sweep to fitted law and plot.

``specs/sweeps/markov_micro.toml`` trains 3 tiny sizes × 2 learning rates on
a first-order Markov chain over 3 symbols whose entropy rate H (≈ 0.399 nats)
is known exactly and recorded in the results DB.  The Chinchilla law
L(N, D) = E + A/N^α + B/D^β is fitted to every validation point of the runs'
curves (the default point selection) and plotted.

What E should be.  The fit extrapolates to infinite N and D *under this data
pipeline*, whose floor F sits slightly above H.  Each document is 255 chain
symbols (the first drawn from the stationary law π) plus an EOS, 256 tokens,
and the ``seq_len`` = 32 windows tile it exactly (k = 256/32 = 8 windows per
document), so every window is an independent sample that starts a fresh
context.  A masked-diffusion NELBO with the exact conditionals equals
−log p(window)/T, so per document the perfect model pays: U_π = H(π) for the
first symbol of each of the k windows, H for the other 255 − k symbols, and,
since nothing tells it which window holds the EOS (always the last position
of one window in k), −ln(1/k) for that EOS and −ln((k−1)/k) for each of the
other k − 1 last positions.  Hence

    F = [k·U_π + (255 − k)·H + k·ln k − (k−1)·ln(k−1)] / 256  ≈ 0.431 nats,

0.032 above H (the test recomputes it from the source's transition table).

Tolerance: |E − H| ≤ (F − H) + 2σ ≈ 0.07 nats, where σ ≈ 0.02 is the
standard error of one validation NELBO (recorded with every evaluation), so
a fit that lands within two standard errors of the pipeline's floor passes.
The lower end of the CI (below) excludes a fit that collapses to E ≈ 0 (the
failure of shorter studies).  E lying below every run's final loss would also
exclude one that stops at the runs' own losses; with the val NELBO as a true
bound (docs/theory.md §2.8) this fit no longer achieves that (E = 0.455 against
a best run of 0.442), so that check is an expected failure until the sweep is
redesigned (issue 15), and the fit must flag itself as not identified.  The 95% bootstrap CI of E must
also contain H and stay clear of 0 (lower end > 0.01; a collapsed fit's CI
reaches down to ~1e-11), i.e. E is identified.

Measured before the bound (training seeds 0, 1, 2 of the same spec; the test
uses seed 0 and is bit-for-bit reproducible): E = 0.4005, 0.4139, 0.3786
against H = 0.3991; CIs [0.34, 0.47], [0.30, 0.44], [0.04, 0.42].  With the
bound, seed 0 gives E = 0.455, within the tolerance.

Caveat, measured on seed 0: the two larger sizes end at nearly the same
loss, so the N term degenerates there (α ≈ 38, seeds 1 and 2 give α ≈ 0.6
and 1.2) and E is carried by the D curves.  Dropping the highest-loss points
(--drop-highest 2..12) moves E within 0.38-0.41, except 10 points, where it
collapses to 0; the test keeps the default selection (every point).
"""

import contextlib
import io
import json
import math
import sqlite3
import tomllib
from pathlib import Path

import numpy as np
import pytest

from difflaws.cli import main
from difflaws.data.markov import transition_table

SPEC = Path(__file__).resolve().parents[1] / "specs" / "sweeps" / "markov_micro.toml"


def window_floor(table: np.ndarray, doc_len: int, seq_len: int) -> tuple[float, float]:
    """(entropy rate H, per-token NELBO floor F) of the packed pipeline, derived above."""
    eigvals, eigvecs = np.linalg.eig(table.T)
    pi = np.real(eigvecs[:, np.argmin(np.abs(eigvals - 1))])
    pi /= pi.sum()
    H = float(-(pi[:, None] * table * np.log(table)).sum())
    U_pi = float(-(pi * np.log(pi)).sum())
    period = doc_len + 1
    assert period % seq_len == 0, "the derivation assumes windows tile each document"
    k = period // seq_len
    eos_cost = k * math.log(k) - ((k - 1) * math.log(k - 1) if k > 1 else 0.0)
    return H, (k * U_pi + (doc_len - k) * H + eos_cost) / period


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("micro")
    sweep_dir = root / "markov_micro"
    assert main(["sweep", str(SPEC), "--out", str(sweep_dir), "--jobs", "2"]) == 0
    with sqlite3.connect(sweep_dir / "results.sqlite") as db:
        runs = [(status, json.loads(data)["entropy_rate"], *rest) for status, data, *rest in
                db.execute("SELECT status, data_metrics, unigram_entropy, final_val_nelbo, "
                           "non_embedding_params FROM runs")]
        extras = [json.loads(e) for (e,) in db.execute(
            "SELECT extra FROM metrics WHERE val_nelbo IS NOT NULL AND extra IS NOT NULL")]
    stderr = [e["val_nelbo_stderr"] for e in extras if "val_nelbo_stderr" in e]
    plot = root / "micro.png"
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(["fit", str(sweep_dir), "--law", "chinchilla", "-o", "grid=small",
                     "--bootstrap", "100", "--json", "--plot", str(plot)])
    fitted = json.loads(buffer.getvalue()) if code == 0 else None  # the tests assert the code
    return {"runs": runs, "code": code, "fit": fitted, "plot": plot, "stderr": stderr}


@pytest.mark.slow
def test_micro_study_sweeps_fits_and_plots(study):
    runs = study["runs"]
    assert len(runs) == 6 and {r[0] for r in runs} == {"finished"}
    (H,) = {round(r[1], 12) for r in runs}
    (U,) = {round(r[2], 12) for r in runs}
    assert len({r[4] for r in runs}) == 3
    # every run learned context (below U) and none beat the floor beyond estimator noise
    assert all(H - 0.05 < r[3] < U for r in runs)
    # the largest model gets closest to the floor
    best = {n: min(r[3] for r in runs if r[4] == n) for n in {r[4] for r in runs}}
    assert best[max(best)] < best[min(best)]
    assert study["code"] == 0
    params = study["fit"]["params"]
    assert params["alpha"] > 0 and params["beta"] > 0
    assert study["plot"].stat().st_size > 10_000 and study["plot"].with_suffix(".pdf").is_file()


@pytest.mark.slow
def test_the_micro_fit_says_it_is_not_identified(study):
    """The two larger sizes end at nearly the window floor, so the N term is free (α runs to
    its bound): the fit must say so, with the parameter named, rather than look trustworthy.
    The README's study, whose fit is identified, is tests/test_facts_micro_fit.py's."""
    diagnostics = study["fit"]["diagnostics"]
    assert diagnostics["identified"] is False
    assert "alpha" in {w["parameter"] for w in diagnostics["warnings"]}


@pytest.mark.slow
def test_micro_study_recovers_the_entropy_rate(study):
    data = tomllib.loads(SPEC.read_text())["set"]
    source, seq_len = data["data"], data["train.seq_len"]
    table = transition_table(source["n_symbols"], source["order"], source["concentration"],
                             source["seed"])
    H, floor = window_floor(table, source["doc_len"], seq_len)
    (H_db,) = {round(r[1], 12) for r in study["runs"]}
    assert H_db == pytest.approx(H, abs=1e-9)  # the DB's H is the chain's, computed independently
    assert 0.02 < floor - H < 0.05  # the boundary offset stays a small part of the tolerance
    sigma = float(np.median(study["stderr"]))
    assert 0.005 < sigma < 0.04
    tolerance = (floor - H) + 2 * sigma
    fit = study["fit"]
    E = fit["params"]["E"]
    assert abs(E - H) <= tolerance, (E, H, floor, tolerance, fit["params"])
    lo, hi = fit["ci"]["E"]
    assert 0.01 < lo <= H <= hi, (lo, hi, H)
