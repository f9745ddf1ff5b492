"""Train a byte-level BPE on the run's own corpus, cached by corpus and size.

Special tokens follow the paper's tokenizer: ``<|begin_of_text|>`` = 0,
``<|end_of_text|>`` = 1, ``<|padding|>`` = 2, ``<|mask|>`` = 3; text is NFC-normalised.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from difflaws import atomic
from difflaws.errors import UserError
from difflaws.tokenizers.hf import HFTokenizer, import_tokenizers

SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|padding|>", "<|mask|>"]
MASK, EOS = SPECIALS[3], SPECIALS[1]


def cache_path(cache_dir: Path, vocab_size: int, corpus_key: str) -> Path:
    key = hashlib.sha256(f"bpe-v1|{vocab_size}|{corpus_key}".encode()).hexdigest()[:16]
    return Path(cache_dir) / f"bpe-{vocab_size}-{key}.json"


def train_bpe(texts, vocab_size: int, path: Path):
    tokenizers = import_tokenizers()
    from tokenizers import decoders, models, normalizers, pre_tokenizers, trainers

    tok = tokenizers.Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIALS, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(texts, trainer=trainer)
    atomic.write_text(path, tok.to_str())
    return tok


def load_or_train(texts, vocab_size: int, cache_dir, corpus_key: str) -> HFTokenizer:
    """Re-use a cached tokenizer trained on the same corpus at the same size, else train one."""
    tokenizers = import_tokenizers()
    path = cache_path(Path(cache_dir), vocab_size, corpus_key)
    if path.is_file():
        tok = tokenizers.Tokenizer.from_file(str(path))
    else:
        if texts is None:
            raise UserError("tokenizer kind 'bpe' trains on text, but the data source yields "
                            "token ids; use tokenizer kind 'hf' with the tokenizer the ids "
                            "came from")
        tok = train_bpe(texts, vocab_size, path)
    out = HFTokenizer(tok, MASK, EOS, vocab_size=max(vocab_size, tok.get_vocab_size()),
                      where=f"bpe tokenizer {path.name}")
    out.name = "bpe"
    out.path = path
    meta = path.with_suffix(".meta.json")
    if meta.is_file():
        out.bytes_per_token = json.loads(meta.read_text())["bytes_per_token"]
    return out


def save_meta(tok: HFTokenizer) -> None:
    atomic.write_json(tok.path.with_suffix(".meta.json"), {"bytes_per_token": tok.bytes_per_token})
