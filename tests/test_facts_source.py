"""The Zipf facts source: its table, its documents and its exact per-token floor."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from difflaws.data.facts import FactsSource, FactTable
from difflaws.errors import UserError
from difflaws.tokenizers.bytes import ByteTokenizer


def make(**kw):
    args = dict(n_facts=200, n_symbols=16, key_len=2, zipf=1.3, facts_per_doc=5, seed=3,
                train_tokens=50_000, val_tokens=2_000)
    return FactsSource(**{**args, **kw})


def test_table_has_distinct_keys_and_zipf_probabilities():
    table = FactTable(n_facts=200, n_symbols=16, key_len=2, zipf=1.3, seed=3)
    assert table.keys.shape == (200, 2) and len({tuple(k) for k in table.keys}) == 200
    assert table.keys.max() < 16 and table.values.max() < 16
    ratio = table.p[:-1] / table.p[1:]  # p_r / p_{r+1} = ((r+1)/r)^zipf
    r = np.arange(1, 200)
    assert ratio == pytest.approx(((r + 1) / r) ** 1.3, rel=1e-12)
    assert table.p.sum() == pytest.approx(1.0, abs=1e-12)


def test_documents_are_facts_then_eos_and_values_follow_their_keys():
    src = make()
    ids = src.generate(10_000, stream_seed=1, eos=99).reshape(-1, src.doc_tokens)
    assert np.all(ids[:, -1] == 99)
    facts = ids[:, :-1].reshape(-1, 3)
    lookup = {tuple(k): v for k, v in zip(src.table.keys, src.table.values)}
    assert all(lookup[(a, b)] == v for a, b, v in facts)


def test_key_frequencies_match_the_zipf_law_by_monte_carlo():
    src = make()
    ids = src.generate(300_000, stream_seed=1, eos=99).reshape(-1, src.doc_tokens)
    facts = ids[:, :-1].reshape(-1, 3)
    code = {(a, b): r for r, (a, b) in enumerate(src.table.keys)}
    ranks = np.array([code[(a, b)] for a, b in facts[:, :2]])
    freq = np.bincount(ranks, minlength=200) / len(ranks)
    n = len(ranks)  # 60,000 draws: the top fact's frequency has s.e. sqrt(p(1-p)/n) ≈ 1.9e-3
    assert np.abs(freq - src.table.p).max() < 5 * math.sqrt(src.table.p[0] / n)
    plug_in = -(freq[freq > 0] * np.log(freq[freq > 0])).sum()
    # plug-in entropy is biased low by ~(K-1)/(2n) ≈ 1.7e-3; its noise is ~5e-3
    assert plug_in == pytest.approx(src.table.entropy(), abs=0.02)


def test_floor_is_the_documents_entropy_per_token():
    src = make()
    # by hand: only the keys are random, 5 of them per 16-token document
    p = np.arange(1, 201, dtype=float) ** -1.3
    p /= p.sum()
    assert src.entropy_rate == pytest.approx(5 * -(p * np.log(p)).sum() / 16, rel=1e-12)
    assert src.extra_metrics() == {"entropy_rate": src.entropy_rate}


def test_stream_is_cached_deterministic_and_splits_differ(tmp_path):
    tok = ByteTokenizer()
    a = make().stream("train", tok, tmp_path / "a")
    b = make().stream("train", tok, tmp_path / "b")
    assert np.array_equal(a, b) and len(a) >= 50_000
    val = make().stream("val", tok, tmp_path / "a")
    assert not np.array_equal(a[:len(val)], val)
    assert make(seed=4).fingerprint() != make().fingerprint()


def test_symbols_must_lie_below_the_tokenizers_special_ids(tmp_path):
    with pytest.raises(UserError, match="data.n_symbols = 300"):
        make(n_symbols=300, n_facts=10).stream("train", ByteTokenizer(), tmp_path)


def test_a_masked_run_on_facts_records_the_floor_and_stays_above_it(tmp_path):
    """A short run end to end: the spec's [data] builds the source, the run records its exact
    floor, and the validation NELBO (a true bound) lies above it."""
    from difflaws.cli import main

    spec = tmp_path / "facts.toml"
    spec.write_text(TINY_SPEC)
    assert main(["run", str(spec), "--out", str(tmp_path / "runs")]) == 0
    summary = json.loads(next((tmp_path / "runs").rglob("summary.json")).read_text())
    src = make(n_facts=64, n_symbols=16, train_tokens=20_000, val_tokens=4_000)
    assert summary["entropy_rate"] == pytest.approx(src.entropy_rate, rel=1e-12)
    assert math.isfinite(summary["val_nelbo"]) and summary["val_nelbo"] > src.entropy_rate


TINY_MARKOV = Path(__file__).parent / "specs" / "tiny_markov.toml"
# the tiny Markov run, with masked noise on facts, one 16-token document per window
TINY_SPEC = TINY_MARKOV.read_text().replace('kind = "uniform"', 'kind = "masked"').replace(
    'kind = "markov"\nn_symbols = 8',
    'kind = "facts"\nn_facts = 64\nn_symbols = 16\nzipf = 1.3\nfacts_per_doc = 5\nseed = 3'
).replace("val_tokens = 2000", "val_tokens = 4000").replace("seq_len = 32", "seq_len = 16")
