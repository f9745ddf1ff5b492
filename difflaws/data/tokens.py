"""Pre-tokenised shards: one flat ``.bin`` per split, as in :mod:`difflaws.data.tokens_file`."""

from __future__ import annotations

import numpy as np

from difflaws.data import tokens_file
from difflaws.data.source import DataSource
from difflaws.errors import UserError

SCAN_CHUNK = 1 << 20


class TokensSource(DataSource):
    name = "tokens"

    def __init__(self, path: str, val_path: str = "", val_fraction: float = 0.01):
        self.path, self.val_path, self.val_fraction = path, val_path, val_fraction
        self.meta = tokens_file.read_meta(path, "data.path")
        if val_path:
            tokens_file.read_meta(val_path, "data.val_path")

    def has_text(self) -> bool:
        return False

    def fingerprint(self) -> str:
        return f"tokens|{self.path}|{self.val_path}|{self.meta['n_tokens']}"

    def texts(self, split=None, limit_bytes=None):
        return None

    def check_tokenizer(self, tokenizer) -> None:
        meta = self.meta
        if meta["vocab_size"] > tokenizer.vocab_size or meta["eos_id"] != tokenizer.eos_id:
            raise UserError(
                f"data.path: {self.path} was made with vocab_size {self.meta['vocab_size']} and "
                f"eos_id {self.meta['eos_id']} ({self.meta.get('tokenizer', '?')}), but the spec's "
                f"tokenizer has {tokenizer.vocab_size} and {tokenizer.eos_id}; use the tokenizer "
                "the file was made with")

    def stream(self, split, tokenizer, cache_dir) -> np.ndarray:
        self.check_tokenizer(tokenizer)
        if self.val_path:
            return tokens_file.read(self.path if split == "train" else self.val_path)
        ids = tokens_file.read(self.path)
        cut = self.split_point(ids)
        return ids[:cut] if split == "train" else ids[cut:]

    def split_point(self, ids) -> int:
        """Hold out the tail, starting right after an EOS so no document straddles the cut."""
        cut = int(len(ids) * (1 - self.val_fraction))
        end = cut
        while end > 0:  # scan back in chunks: the file may be far larger than memory
            start = max(0, end - SCAN_CHUNK)
            eos = np.flatnonzero(np.asarray(ids[start:end]) == self.meta["eos_id"])
            if len(eos):
                return start + int(eos[-1]) + 1
            end = start
        return cut
