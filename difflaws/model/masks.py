"""Who attends to whom: packed documents, clean prompt prefixes, causality, cached keys.

A query q may attend to a key k when both lie in the same document and
noisy(q) ≥ noisy(k) (docs/theory.md §2.4): clean prefix tokens see only the
prefix, noisy tokens see everything in their document.  Documents are the
contiguous runs of equal ``doc_ids`` in a row.  A causal mask (the
autoregressive objective) also requires k ≤ q.

During generation the keys of ``offset`` earlier positions come from a cache:
queries are positions offset … offset+T−1 and keys 0 … offset+T−1, so the
mask is [T, offset+T] and causality is counted from the bottom right.  Cached
keys are context every query may see (a finished prompt or block).
"""

from __future__ import annotations

import torch


class AttentionMask:
    def __init__(self, seq_len: int, doc_ids: torch.Tensor | None = None,
                 prefix_len: torch.Tensor | None = None, causal: bool = False, offset: int = 0):
        self.seq_len = seq_len
        self.doc_ids = doc_ids
        self.prefix_len = prefix_len if prefix_len is not None and bool((prefix_len > 0).any()) else None
        self.causal, self.offset = causal, offset
        self._dense = None

    @property
    def kv_len(self) -> int:
        return self.offset + self.seq_len

    @property
    def is_full(self) -> bool:
        """Every query sees every key (a causal mask with a single query is full too)."""
        return (self.doc_ids is None and self.prefix_len is None
                and not (self.causal and self.seq_len > 1))

    @property
    def is_plain_causal(self) -> bool:
        """Square causal attention, nothing else: the fused kernels' ``is_causal`` case."""
        return (self.causal and self.offset == 0 and self.doc_ids is None
                and self.prefix_len is None)

    @property
    def has_prefix(self) -> bool:
        return self.prefix_len is not None

    def dense(self, device) -> torch.Tensor | None:
        """Boolean [B or 1, 1, T, offset+T] (True = may attend), or None for full attention."""
        if self.is_full:
            return None
        if self._dense is None:
            allowed = None
            if self.doc_ids is not None:
                ids = self.doc_ids.to(device)
                allowed = ids[:, :, None] == ids[:, None, :]
                if self.offset:
                    cached = allowed.new_ones(allowed.shape[0], self.seq_len, self.offset)
                    allowed = torch.cat([cached, allowed], dim=-1)
            if self.prefix_len is not None:
                pos = torch.arange(self.seq_len, device=device)
                noisy = pos[None, :] >= self.prefix_len.to(device)[:, None]
                by_prefix = noisy[:, :, None] >= noisy[:, None, :]
                if self.offset:
                    cached = by_prefix.new_ones(by_prefix.shape[0], self.seq_len, self.offset)
                    by_prefix = torch.cat([cached, by_prefix], dim=-1)
                allowed = by_prefix if allowed is None else allowed & by_prefix
            if self.causal:
                query = torch.arange(self.seq_len, device=device)[:, None] + self.offset
                key = torch.arange(self.kv_len, device=device)[None, :]
                ordered = (key <= query)[None]
                allowed = ordered if allowed is None else allowed & ordered
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
