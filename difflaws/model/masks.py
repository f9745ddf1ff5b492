"""Who attends to whom: packed documents and clean prompt prefixes, never causality.

A query q may attend to a key k when both lie in the same document and
noisy(q) ≥ noisy(k) (docs/theory.md §2.4): clean prefix tokens see only the
prefix, noisy tokens see everything in their document.  Documents are the
contiguous runs of equal ``doc_ids`` in a row.
"""

from __future__ import annotations

import torch


class AttentionMask:
    def __init__(self, seq_len: int, doc_ids: torch.Tensor | None = None,
                 prefix_len: torch.Tensor | None = None):
        self.seq_len = seq_len
        self.doc_ids = doc_ids
        self.prefix_len = prefix_len if prefix_len is not None and bool((prefix_len > 0).any()) else None
        self._dense = None

    @property
    def is_full(self) -> bool:
        return self.doc_ids is None and self.prefix_len is None

    @property
    def has_prefix(self) -> bool:
        return self.prefix_len is not None

    def dense(self, device) -> torch.Tensor | None:
        """Boolean [B, 1, T, T] (True = may attend), or None for full attention."""
        if self.is_full:
            return None
        if self._dense is None:
            allowed = None
            if self.doc_ids is not None:
                ids = self.doc_ids.to(device)
                allowed = ids[:, :, None] == ids[:, None, :]
            if self.prefix_len is not None:
                pos = torch.arange(self.seq_len, device=device)
                noisy = pos[None, :] >= self.prefix_len.to(device)[:, None]
                by_prefix = noisy[:, :, None] >= noisy[:, None, :]
                allowed = by_prefix if allowed is None else allowed & by_prefix
            self._dense = allowed[:, None]
        return self._dense

    def document_lengths(self, batch: int) -> list[int]:
        """Lengths of the documents of the flattened batch, in order (one per row without doc_ids)."""
        if self.doc_ids is None:
            return [self.seq_len] * batch
        ids = self.doc_ids
        starts = torch.ones_like(ids, dtype=torch.bool)
        starts[:, 1:] = ids[:, 1:] != ids[:, :-1]
        flat = torch.nonzero(starts.reshape(-1)).squeeze(-1)
        ends = torch.cat([flat[1:], flat.new_tensor([ids.numel()])])
        return (ends - flat).tolist()
