"""Pack a flat token stream into fixed-length sequences, in a seeded order.

The stream is cut into non-overlapping windows of ``seq_len`` tokens, and the
first ``pool`` of them (all by default; see :mod:`difflaws.data.pool`) are the
ones served: each epoch visits every pool window once in an order drawn from
``(seed, epoch)``.
Sequence number k of the run is therefore a pure function of k, and the
data position a checkpoint needs is the single integer ``consumed``; a rank reads only
its own rows (:mod:`difflaws.data.loader`), straight from the stream (a memory map for a
``.bin``), whatever the world size.
Document ids (the number of EOS tokens before a position within its window;
an EOS belongs to the document it ends) let the backbone keep attention
inside documents.
"""

from __future__ import annotations

import numba
import numpy as np
import torch

from difflaws.errors import UserError


@numba.njit(cache=True)
def gather_windows(stream, starts, seq_len, eos, tokens, doc_ids):
    for b in range(len(starts)):
        doc = 0
        s = starts[b]
        for t in range(seq_len):
            tok = stream[s + t]
            tokens[b, t] = tok
            doc_ids[b, t] = doc
            if tok == eos:
                doc += 1


def packed_batch(stream, starts, seq_len: int, eos_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``seq_len`` windows of ``stream`` at ``starts`` as (tokens, doc_ids), both int64
    [len(starts), seq_len]."""
    tokens = np.empty((len(starts), seq_len), dtype=np.int64)
    doc_ids = np.empty((len(starts), seq_len), dtype=np.int64)
    gather_windows(stream, starts, seq_len, eos_id, tokens, doc_ids)
    return torch.from_numpy(tokens), torch.from_numpy(doc_ids)


class PackedSequences:
    def __init__(self, stream: np.ndarray, seq_len: int, eos_id: int, seed: int,
                 shuffle: bool = True, where: str = "data", pool: int = 0):
        self.stream = np.asarray(stream)
        self.seq_len, self.eos_id, self.seed, self.shuffle = seq_len, eos_id, seed, shuffle
        self.split_windows = len(self.stream) // seq_len
        if self.split_windows == 0:
            raise UserError(f"{where}: the split has {len(self.stream)} tokens, fewer than one "
                            f"sequence of train.seq_len = {seq_len}; use more data or a shorter "
                            "seq_len")
        if not 0 <= pool <= self.split_windows:  # difflaws.data.pool refuses it for users
            raise ValueError(f"a pool of {pool} windows from a split of {self.split_windows}")
        # the windows served; the pool being a prefix, no index beyond it is ever drawn
        self.n_windows = pool or self.split_windows
        self.pool_tokens = self.n_windows * seq_len
        self.consumed = 0
        self._order: tuple[int, np.ndarray] | None = None

    def order(self, epoch: int) -> np.ndarray:
        cached = self._order  # one read: a reader thread may replace it meanwhile
        if cached is None or cached[0] != epoch:
            idx = np.arange(self.n_windows, dtype=np.int64)
            if self.shuffle:
                idx = np.random.default_rng([self.seed, epoch]).permutation(idx)
            cached = self._order = (epoch, idx)
        return cached[1]

    def starts(self, first: int, count: int) -> np.ndarray:
        out = np.empty(count, dtype=np.int64)
        for i in range(count):
            epoch, pos = divmod(first + i, self.n_windows)
            out[i] = self.order(epoch)[pos] * self.seq_len
        return out

    def batch_at(self, first: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Sequences ``first .. first+count-1`` as (tokens, doc_ids), both int64 [count, T]."""
        return packed_batch(self.stream, self.starts(first, count), self.seq_len, self.eos_id)

    def next_batch(self, count: int):
        out = self.batch_at(self.consumed, count)
        self.consumed += count
        return out

    def shard(self, columns: range) -> None:
        """Any window is read directly, whichever rows a rank trains on: nothing to plan."""

    def state_at(self, consumed: int, reduce=None) -> dict:
        """The data position after ``consumed`` sequences (the same on every rank)."""
        return {"consumed": int(consumed), "seed": self.seed, "n_windows": self.n_windows,
                "split_windows": self.split_windows}

    def state_dict(self) -> dict:
        return self.state_at(self.consumed)

    def load_state_dict(self, state: dict) -> None:
        # a checkpoint from before pools served its whole split
        split = state.get("split_windows", state["n_windows"])
        if split != self.split_windows or state["seed"] != self.seed:
            raise UserError("the checkpoint's data position belongs to another corpus or seed; "
                            "start a new run directory")
        if state["n_windows"] != self.n_windows:
            raise UserError(f"the checkpoint's data position belongs to a training pool of "
                            f"{state['n_windows']:,} windows, this run's has {self.n_windows:,} "
                            "(another data.unique_tokens); start a new run directory")
        self.consumed = int(state["consumed"])


def unigram_entropy(stream: np.ndarray, vocab_size: int) -> float:
    """Plug-in entropy (nats/token) of the stream's token frequencies: the loss of the
    best context-free model on this split."""
    counts = np.bincount(np.asarray(stream, dtype=np.int64), minlength=vocab_size)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())
