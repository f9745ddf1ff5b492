"""Tokenizers: round trips, special ids, BPE caching, and refusing a tokenizer without a mask."""

from __future__ import annotations

import importlib.util

import pytest

from difflaws.builtins.tokenizers import (BPETokenizerConfig, BytesTokenizerConfig,
                                          HFTokenizerConfig, TiktokenTokenizerConfig)
from difflaws.data.text import TextSource
from difflaws.errors import UserError

TEXT = "naïve café — ünïcödé ✓\nprint('hello')\n"


def test_bytes_round_trip_and_specials():
    tok = BytesTokenizerConfig().build()
    ids = tok.encode(TEXT)
    assert ids == list(TEXT.encode("utf-8"))  # one id per UTF-8 byte, by definition
    assert tok.decode(ids) == TEXT
    assert tok.vocab_size == BytesTokenizerConfig().vocab_size == 258
    assert {tok.eos_id, tok.mask_id} == {256, 257}
    assert max(ids) < 256
    assert tok.bytes_per_token == 1.0
    assert "<|eos|>" in tok.decode([104, tok.eos_id, 105])


@pytest.fixture
def corpus(tmp_path):
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "theta"]
    for i in range(30):
        text = " ".join(words[(i * j) % 7] for j in range(200))
        (tmp_path / f"doc{i:02d}.txt").write_text(text)
    return TextSource([str(tmp_path / "*.txt")], val_fraction=0.2)


def test_bpe_trains_caches_and_knows_specials(corpus, tmp_path):
    cfg = BPETokenizerConfig(vocab_size=300)
    cache = tmp_path / "cache"
    tok = cfg.build(source=corpus, cache_dir=cache)
    assert (tok.eos_id, tok.mask_id) == (1, 3)  # the paper's special-token ids
    assert tok.vocab_size == 300
    text = "gamma delta alpha zeta"
    assert tok.decode(tok.encode(text)) == text
    # bytes per token measured on the validation texts, recomputed here independently
    val = list(corpus.texts("val"))
    expect = sum(len(t.encode()) for t in val) / sum(len(tok.encode(t)) for t in val)
    assert tok.bytes_per_token == pytest.approx(expect)
    assert tok.bytes_per_token > 1.5  # merges learned: several bytes per token
    files = sorted(cache.glob("bpe-*.json"))
    stamp = [f.stat().st_mtime_ns for f in files]
    again = cfg.build(source=corpus, cache_dir=cache)  # cached: nothing retrained
    assert [f.stat().st_mtime_ns for f in files] == stamp
    assert again.encode(text) == tok.encode(text)


def test_hf_tokenizer_without_mask_is_refused(tmp_path):
    from tokenizers import Tokenizer, models

    path = tmp_path / "tokenizer.json"
    Tokenizer(models.WordLevel({"a": 0, "<|end_of_text|>": 1}, unk_token="a")).save(str(path))
    with pytest.raises(UserError, match="no mask token '<\\|mask\\|>'"):
        HFTokenizerConfig(path=str(path)).build()
    with pytest.raises(UserError, match="not found"):
        HFTokenizerConfig(path=str(tmp_path / "missing.json")).build()


def test_hf_tokenizer_with_mask_and_padding(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    path = tmp_path / "tokenizer.json"
    tok = Tokenizer(models.WordLevel({"a": 0, "b": 1, "<|end_of_text|>": 2, "<|mask|>": 3},
                                     unk_token="a"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(path))
    built = HFTokenizerConfig(path=str(path), vocab_size=8).build()
    assert (built.vocab_size, built.eos_id, built.mask_id) == (8, 2, 3)
    assert built.encode("b a b") == [1, 0, 1]
    with pytest.raises(UserError, match="below"):
        HFTokenizerConfig(path=str(path), vocab_size=2).build()


@pytest.mark.skipif(importlib.util.find_spec("tiktoken") is not None, reason="tiktoken installed")
def test_tiktoken_missing_package_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="pip install 'difflaws\\[tiktoken\\]'"):
        TiktokenTokenizerConfig(path=str(tmp_path / "x.tiktoken")).build()
