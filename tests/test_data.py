"""Data sources, token files, packing and the Markov source's exact entropy rate."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from difflaws.builtins.data import HFDataConfig, StdlibDataConfig, TextDataConfig, TokensDataConfig
from difflaws.data import tokens_file
from difflaws.data.markov import MarkovSource, entropy_rate, stationary
from difflaws.data.packing import PackedSequences, unigram_entropy
from difflaws.errors import UserError
from difflaws.tokenizers.bytes import ByteTokenizer


# -- sources ---------------------------------------------------------------------
def test_stdlib_corpus_is_deterministic_and_split():
    a = StdlibDataConfig(max_bytes=300_000, val_fraction=0.2).build()
    b = StdlibDataConfig(max_bytes=300_000, val_fraction=0.2).build()
    keys = [k for k, _ in a.documents()]
    assert keys == [k for k, _ in b.documents()] == sorted(keys)
    assert not any("site-packages" in k for k in keys)
    train, val = list(a.texts("train")), list(a.texts("val"))
    assert train and val and len(train) + len(val) == len(keys)
    assert a.fingerprint() == b.fingerprint()


def test_text_source_errors(tmp_path):
    with pytest.raises(UserError, match="matches no file"):
        TextDataConfig(paths=[str(tmp_path / "nope*.txt")]).build()
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(UserError, match="corpus is empty"):
        TextDataConfig(paths=[str(tmp_path / "empty.txt")]).build()


def test_text_source_separator_and_jsonl(tmp_path, ):
    (tmp_path / "a.txt").write_text("one\n\ntwo\n\nthree")
    (tmp_path / "b.jsonl").write_text('{"text": "four"}\n{"text": "five"}\n')
    src = TextDataConfig(paths=[str(tmp_path / "a.txt"), str(tmp_path / "b.jsonl")],
                         separator="\n\n").build()
    assert [t for _, t in src.documents()] == ["one", "two", "three", "four", "five"]


def test_text_stream_has_eos_between_documents(tmp_path):
    (tmp_path / "a.txt").write_text("ab|cd")
    src = TextDataConfig(paths=[str(tmp_path / "a.txt")], separator="|", val_fraction=0.0).build()
    tok = ByteTokenizer()
    stream = src.stream("train", tok, tmp_path / "cache")
    assert list(stream) == [97, 98, 256, 99, 100, 256]
    assert stream.dtype == np.dtype("<u2")


def test_hf_source_without_datasets_is_a_clear_error():
    if importlib.util.find_spec("datasets") is not None:
        pytest.skip("datasets is installed; this checks the error without it")
    with pytest.raises(UserError, match="pip install 'difflaws\\[hf\\]'"):
        HFDataConfig(dataset="some/dataset").build()


# -- token files ------------------------------------------------------------------
def test_tokens_file_round_trip_and_split(tmp_path):
    ids = np.array([5, 6, 256, 7, 8, 9, 256, 1, 2, 256], dtype=np.int64)
    path = tmp_path / "train.bin"
    tokens_file.write(path, ids, vocab_size=258, eos_id=256, tokenizer="bytes")
    meta = json.loads((tmp_path / "train.bin.json").read_text())
    assert meta["dtype"] == "uint16" and meta["n_tokens"] == 10
    assert path.stat().st_size == 20  # raw, headerless: memory-maps like nanoGPT's .bin
    src = TokensDataConfig(path=str(path), val_fraction=0.25).build()
    tok = ByteTokenizer()
    train, val = src.stream("train", tok, tmp_path), src.stream("val", tok, tmp_path)
    # the cut (at 7 of 10 tokens) moves back to just after the last EOS before it
    assert list(train) == [5, 6, 256, 7, 8, 9, 256] and list(val) == [1, 2, 256]


def test_tokens_file_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        TokensDataConfig(path=str(tmp_path / "none.bin")).build()
    (tmp_path / "x.bin").write_bytes(b"\0\0")
    with pytest.raises(UserError, match="no sidecar"):
        TokensDataConfig(path=str(tmp_path / "x.bin")).build()
    tokens_file.write(tmp_path / "y.bin", np.array([1, 2]), vocab_size=70000, eos_id=0,
                      tokenizer="other")
    src = TokensDataConfig(path=str(tmp_path / "y.bin")).build()
    with pytest.raises(UserError, match="use the tokenizer the file was made with"):
        src.stream("train", ByteTokenizer(), tmp_path)
    tokens_file.write(tmp_path / "cut.bin", np.array([1, 2, 3]), vocab_size=70000, eos_id=0,
                      tokenizer="other")  # 70,000 ids: uint32, 4 bytes each
    with open(tmp_path / "cut.bin", "r+b") as f:
        f.truncate(10)  # a copy cut short mid-id
    with pytest.raises(UserError, match="not a whole number of uint32 ids"):
        tokens_file.read(tmp_path / "cut.bin")


# -- packing ------------------------------------------------------------------------
def test_packing_windows_doc_ids_and_order():
    rng = np.random.default_rng(0)
    stream = rng.integers(0, 5, size=10 * 8)  # id 4 plays EOS
    seqs = PackedSequences(stream.astype(np.uint16), seq_len=8, eos_id=4, seed=3)
    tokens, docs = seqs.batch_at(0, 25)  # 2.5 epochs of 10 windows
    windows = [tuple(stream[i * 8:(i + 1) * 8]) for i in range(10)]
    got = [tuple(row) for row in tokens.numpy()]
    for epoch in range(2):  # each epoch visits every window exactly once
        assert sorted(got[epoch * 10:(epoch + 1) * 10]) == sorted(windows)
    assert got[:10] != got[10:20]  # reshuffled per epoch
    for row, doc in zip(tokens.numpy(), docs.numpy()):
        expect, d = [], 0
        for tok in row:
            expect.append(d)
            d += tok == 4
        assert list(doc) == expect
    again = PackedSequences(stream.astype(np.uint16), seq_len=8, eos_id=4, seed=3)
    again.next_batch(7)
    state = again.state_dict()
    resumed = PackedSequences(stream.astype(np.uint16), seq_len=8, eos_id=4, seed=3)
    resumed.load_state_dict(state)
    assert resumed.next_batch(5)[0].tolist() == tokens[7:12].tolist()


def test_packing_refuses_a_split_shorter_than_a_sequence():
    with pytest.raises(UserError, match="fewer than one sequence"):
        PackedSequences(np.zeros(10, dtype=np.uint16), seq_len=16, eos_id=0, seed=0)


def test_unigram_entropy_matches_definition():
    stream = np.array([0, 0, 1, 2, 2, 2, 2, 3])
    p = np.array([2, 1, 4, 1]) / 8
    assert unigram_entropy(stream, 10) == pytest.approx(-(p * np.log(p)).sum())


# -- Markov source ------------------------------------------------------------------------
def test_markov_entropy_rate_two_state_closed_form():
    # P = [[1-a, a], [b, 1-b]]: π = (b, a)/(a+b), H = π0 h(a) + π1 h(b)
    a, b = 0.1, 0.4
    table = np.array([[1 - a, a], [b, 1 - b]])
    h = lambda p: -(p * np.log(p) + (1 - p) * np.log(1 - p))  # noqa: E731
    expect = (b * h(a) + a * h(b)) / (a + b)
    assert entropy_rate(table, 2, 1) == pytest.approx(expect, rel=1e-12)
    assert stationary(table, 2, 1) == pytest.approx([b / (a + b), a / (a + b)])


def test_markov_second_order_entropy_rate_matches_monte_carlo():
    src = MarkovSource(n_symbols=4, order=2, concentration=0.5, seed=7, train_tokens=400_000,
                       val_tokens=10, doc_len=400_000)
    ids = src.generate(400_000, stream_seed=1, eos=99)
    ids = ids[ids != 99]
    ctx = ids[:-2] * 4 + ids[1:-1]
    counts = np.zeros((16, 4))
    np.add.at(counts, (ctx, ids[2:]), 1)
    joint = counts / counts.sum()
    cond = counts / counts.sum(axis=1, keepdims=True)
    plug_in = -(joint[counts > 0] * np.log(cond[counts > 0])).sum()
    # plug-in conditional entropy from 4e5 tokens: bias ~ (16·3)/(2·4e5), noise ~ 3e-3
    assert plug_in == pytest.approx(src.entropy_rate, abs=0.01)
    assert src.extra_metrics() == {"entropy_rate": src.entropy_rate}


def test_markov_stream_is_deterministic_with_eos(tmp_path):
    tok = ByteTokenizer()
    make = lambda: MarkovSource(8, 1, 0.3, 5, 1000, 200, 99)  # noqa: E731
    a = make().stream("train", tok, tmp_path / "a")
    b = make().stream("train", tok, tmp_path / "b")
    assert np.array_equal(a, b)
    assert np.all(a[99::100] == tok.eos_id) and a[a != tok.eos_id].max() < 8
    assert not np.array_equal(a[:200], make().stream("val", tok, tmp_path / "a")[:200])
