"""Hugging Face ``datasets``, streamed (optional extra: ``pip install 'difflaws[hf]'``).

With ``max_documents > 0`` the first that many documents are tokenised once into the
workspace cache, like any text source.  ``max_documents = 0`` streams the whole dataset
instead, never cached: training reads it lane by lane, resumably
(:mod:`difflaws.data.lane_streams`), and the validation split is the held-out documents
among the first ``val_documents`` (those are cached).
"""

from __future__ import annotations

import hashlib

from difflaws.data.source import DataSource, held_out
from difflaws.errors import UserError


def import_datasets():
    try:
        import datasets
    except ImportError:
        raise UserError("data kind 'hf' needs the `datasets` package: "
                        "pip install 'difflaws[hf]'") from None
    return datasets


class HFSource(DataSource):
    name = "hf"

    def __init__(self, dataset: str, subset: str = "", split: str = "train",
                 text_field: str = "text", max_documents: int = 0, val_fraction: float = 0.01,
                 val_documents: int = 100_000, lanes: int = 8):
        self.datasets = import_datasets()
        self.dataset, self.subset, self.split = dataset, subset, split
        self.text_field, self.max_documents = text_field, max_documents
        self.val_fraction, self.val_documents, self.lanes = val_fraction, val_documents, lanes

    @property
    def streamed(self) -> bool:
        return self.max_documents == 0

    def fingerprint(self) -> str:
        cap = f"stream:{self.val_documents}" if self.streamed else self.max_documents
        return f"hf|{self.dataset}|{self.subset}|{self.split}|{self.text_field}|" \
               f"{cap}|{self.val_fraction}"

    def opened(self):
        """The streamed dataset, opened once (each epoch and resume iterates it anew).  Call
        it first from the main thread: opening draws progress bars, which are not
        thread-safe, and the training stream is read in a background thread."""
        if getattr(self, "_opened", None) is None:
            try:
                self._opened = self.datasets.load_dataset(
                    self.dataset, self.subset or None, split=self.split, streaming=True)
            except Exception as exc:
                raise UserError(f"data.dataset: cannot open {self.dataset!r}: {exc}") from None
        return self._opened

    def rows(self, start: int = 0):
        """``(index, text)`` of the dataset's documents from ``start`` on."""
        ds = self.opened()
        for i, row in enumerate(ds.skip(start) if start else ds, start):
            if self.text_field not in row:
                raise UserError(f"data.text_field: {self.dataset!r} rows have no "
                                f"{self.text_field!r} (keys: {', '.join(row)})")
            yield i, row[self.text_field]

    def documents(self):
        limit = self.val_documents if self.streamed else self.max_documents
        for i, text in self.rows():
            if limit and i >= limit:
                return
            yield f"{i}", text

    def identity(self, tokenizer) -> str:
        """What the streamed windows depend on (not where the tokenizer file lies)."""
        desc = f"{self.fingerprint()}|{sorted(tokenizer.describe().items())}"
        return hashlib.sha256(desc.encode()).hexdigest()[:32]

    def train_windows(self, tokenizer, cache_dir, seq_len, seed, unique_tokens, batch_size):
        if not self.streamed:
            return super().train_windows(tokenizer, cache_dir, seq_len, seed, unique_tokens,
                                         batch_size)
        if unique_tokens:
            raise UserError(f"data.unique_tokens = {unique_tokens:,} needs a corpus of known "
                            "size, and data.max_documents = 0 streams the whole dataset; set "
                            "data.max_documents to cache a capped corpus instead")
        from difflaws.data.lane_streams import LaneStreams

        self.opened()
        return LaneStreams(self.rows, lambda i: not held_out(f"{i}", self.val_fraction),
                           tokenizer, seq_len, batch_size, self.lanes,
                           identity=self.identity(tokenizer),
                           where="data (hf stream)")
