"""The data-source contract and the text → token-stream path text sources share.

A source turns into one flat token stream per split (``"train"``, ``"val"``),
documents separated by the tokenizer's EOS id.  Streams are cached as raw
``.bin`` arrays (see :mod:`difflaws.data.tokens_file`) keyed by the source's
fingerprint and the tokenizer, so a resumed run reads, not re-tokenises.

The trainer reads the training split through :meth:`DataSource.train_windows`: by
default the flat stream cut into windows (:class:`~difflaws.data.packing.PackedSequences`);
a source too large to hold, or to cache whole, overrides it to serve the windows itself
(:mod:`difflaws.data.parquet`, :mod:`difflaws.data.lane_streams`; the protocol is in
:mod:`difflaws.data.loader`).
"""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path

import numpy as np

from difflaws.data import tokens_file
from difflaws.data.pool import pool_windows
from difflaws.errors import UserError

SPLITS = ("train", "val")
ENCODE_CHUNK = 256  # documents tokenised per batch call


def held_out(key: str, val_fraction: float) -> bool:
    """Validation membership from a document's stable key, independent of the run's seed,
    so runs with different seeds are scored on the same documents."""
    return zlib.crc32(key.encode("utf-8")) % 100_000 < val_fraction * 100_000


class DataSource:
    """Base class.  Text sources implement :meth:`documents`; token-native ones override
    :meth:`stream`."""

    name = "data"
    val_fraction = 0.01

    def fingerprint(self) -> str:
        raise NotImplementedError

    def documents(self):
        """Yield ``(key, text)`` pairs in a deterministic order."""
        raise NotImplementedError

    def texts(self, split: str | None = None, limit_bytes: int | None = None):
        """Document texts of one split (all when None), e.g. for training a BPE."""
        seen = 0
        for key, text in self.documents():
            if split is not None and held_out(key, self.val_fraction) != (split == "val"):
                continue
            yield text
            seen += len(text)
            if limit_bytes is not None and seen >= limit_bytes:
                return

    def has_text(self) -> bool:
        return True

    def extra_metrics(self) -> dict:
        """Figures the run records in its summary and the DB (e.g. a known entropy rate)."""
        return {}

    def metric_notes(self) -> dict:
        """A short phrase per extra metric for the end-of-run line; the key otherwise."""
        return {}

    def stream(self, split: str, tokenizer, cache_dir) -> np.ndarray:
        path = self.cache_path(split, tokenizer, cache_dir)
        if not tokens_file.exists(path):
            encode_to_file(self.texts(split), tokenizer, path)
        return tokens_file.read(path, where=f"data.{split}")

    def train_windows(self, tokenizer, cache_dir, seq_len: int, seed: int, unique_tokens: int,
                      batch_size: int):
        """The training windows: ``seq_len`` windows of the training stream, the first
        ``unique_tokens`` tokens' worth (0: all), in ``seed``'s order; ``batch_size`` is
        the global batch (sources that read by lanes lay them out by it)."""
        from difflaws.data.packing import PackedSequences

        stream = self.stream("train", tokenizer, cache_dir)
        return PackedSequences(stream, seq_len, tokenizer.eos_id, seed, where="data (train split)",
                               pool=pool_windows(unique_tokens, seq_len, len(stream)))

    def cache_path(self, split: str, tokenizer, cache_dir) -> Path:
        """Where ``split``'s token stream under ``tokenizer`` is cached."""
        return Path(cache_dir) / f"{split}-{self.cache_key(tokenizer)}.bin"

    def cache_key(self, tokenizer) -> str:
        desc = f"{self.fingerprint()}|{sorted(tokenizer.describe().items())}|" \
               f"{getattr(tokenizer, 'path', '')}"
        return hashlib.sha256(desc.encode()).hexdigest()[:16]


class SyntheticSource(DataSource):
    """A token-native source that draws symbols 0..``n_symbols``-1 and uses them as token
    ids; subclasses give :meth:`generate`, ``train_tokens`` / ``val_tokens`` and the
    ``entropy_rate`` (nats/token) that no model can beat on its stream."""

    n_symbols: int
    train_tokens: int
    val_tokens: int
    entropy_rate: float

    def extra_metrics(self) -> dict:
        return {"entropy_rate": self.entropy_rate}

    def has_text(self) -> bool:
        return False

    def texts(self, split=None, limit_bytes=None):
        return None

    def generate(self, n_tokens: int, stream_seed: int, eos: int) -> np.ndarray:
        raise NotImplementedError

    def stream(self, split, tokenizer, cache_dir) -> np.ndarray:
        n = self.n_symbols
        if n > tokenizer.vocab_size or tokenizer.eos_id < n or tokenizer.mask_id < n:
            raise UserError(f"data.n_symbols = {n}: {self.name} symbols are used as token ids "
                            f"0..{n - 1}, which must lie below the tokenizer's special ids "
                            f"(eos {tokenizer.eos_id}, mask {tokenizer.mask_id}); lower n_symbols")
        path = self.cache_path(split, tokenizer, cache_dir)
        if not tokens_file.exists(path):
            size = self.train_tokens if split == "train" else self.val_tokens
            ids = self.generate(size, 1 if split == "train" else 2, tokenizer.eos_id)
            tokens_file.write(path, ids, tokenizer.vocab_size, tokenizer.eos_id, tokenizer.name)
        return tokens_file.read(path)


def encode_to_file(texts, tokenizer, path: Path) -> None:
    parts, chunk = [], []

    def flush():
        for ids in tokenizer.encode_batch(chunk):
            parts.append(np.asarray(ids, dtype=np.int64))
            parts.append(np.array([tokenizer.eos_id], dtype=np.int64))
        chunk.clear()

    for text in texts:
        if text:
            chunk.append(text)
        if len(chunk) >= ENCODE_CHUNK:
            flush()
    flush()
    flat = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    tokens_file.write(path, flat, vocab_size=tokenizer.vocab_size, eos_id=tokenizer.eos_id,
                      tokenizer=tokenizer.name)


def require_nonempty(n_docs: int, where: str, what: str) -> None:
    if n_docs == 0:
        raise UserError(f"{where}: the corpus is empty ({what}); point it at files with text")
