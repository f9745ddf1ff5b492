"""Pack a flat token stream into fixed-length sequences, in a seeded order.

The stream is cut into non-overlapping windows of ``seq_len`` tokens; each
epoch visits every window once in an order drawn from ``(seed, epoch)``.
Sequence number k of the run is therefore a pure function of k, and the
data position a checkpoint needs is the single integer ``consumed``.
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


class PackedSequences:
    def __init__(self, stream: np.ndarray, seq_len: int, eos_id: int, seed: int,
                 shuffle: bool = True, where: str = "data"):
        self.stream = np.asarray(stream)
        self.seq_len, self.eos_id, self.seed, self.shuffle = seq_len, eos_id, seed, shuffle
        self.n_windows = len(self.stream) // seq_len
        if self.n_windows == 0:
            raise UserError(f"{where}: the split has {len(self.stream)} tokens, fewer than one "
                            f"sequence of train.seq_len = {seq_len}; use more data or a shorter "
                            "seq_len")
        self.consumed = 0
        self._order: tuple[int, np.ndarray] | None = None

    def order(self, epoch: int) -> np.ndarray:
        if self._order is None or self._order[0] != epoch:
            idx = np.arange(self.n_windows, dtype=np.int64)
            if self.shuffle:
                idx = np.random.default_rng([self.seed, epoch]).permutation(idx)
            self._order = (epoch, idx)
        return self._order[1]

    def starts(self, first: int, count: int) -> np.ndarray:
        out = np.empty(count, dtype=np.int64)
        for i in range(count):
            epoch, pos = divmod(first + i, self.n_windows)
            out[i] = self.order(epoch)[pos] * self.seq_len
        return out

    def batch_at(self, first: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Sequences ``first .. first+count-1`` as (tokens, doc_ids), both int64 [count, T]."""
        tokens = np.empty((count, self.seq_len), dtype=np.int64)
        doc_ids = np.empty((count, self.seq_len), dtype=np.int64)
        gather_windows(self.stream, self.starts(first, count), self.seq_len, self.eos_id,
                       tokens, doc_ids)
        return torch.from_numpy(tokens), torch.from_numpy(doc_ids)

    def next_batch(self, count: int):
        out = self.batch_at(self.consumed, count)
        self.consumed += count
        return out

    def state_dict(self) -> dict:
        return {"consumed": self.consumed, "seed": self.seed, "n_windows": self.n_windows}

    def load_state_dict(self, state: dict) -> None:
        if state["n_windows"] != self.n_windows or state["seed"] != self.seed:
            raise UserError("the checkpoint's data position belongs to another corpus or seed; "
                            "start a new run directory")
        self.consumed = int(state["consumed"])


def unigram_entropy(stream: np.ndarray, vocab_size: int) -> float:
    """Plug-in entropy (nats/token) of the stream's token frequencies: the loss of the
    best context-free model on this split."""
    counts = np.bincount(np.asarray(stream, dtype=np.int64), minlength=vocab_size)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())
