"""Exact next-token log-probabilities of token rows through a causal model.

Logits at position t predict token t+1 (docs/theory.md §9), softmax over the
whole vocabulary as the run's NLL takes it.  A row is scored from token
``first`` on; the row's first token is context only (a start token: EOS for a
difflaws run, BOS for a Hugging Face judge).  Rows longer than the model's
``window`` are scored in the blocks of ``difflaws.metrics.windows`` (each
target exactly once, with as much context as the scheme gives it).  Blocks of
all rows are batched by length, right-padded: a causal model's real positions
never see the padding after them.
"""

from __future__ import annotations

import attrs
import numpy as np
import torch

from difflaws.metrics.windows import blocks


@attrs.frozen
class TokenScores:
    """Per target token of one row: log p(token | earlier tokens), and whether it was the
    model's argmax."""

    log_probs: np.ndarray
    greedy: np.ndarray


class NextTokenScorer:
    """``logits_fn(tokens [B, L] long, lengths [B] long) -> logits [B, L, V]``, a causal
    model that sees ``window`` tokens at once."""

    min_context = 1

    def __init__(self, logits_fn, window: int, batch_size: int, device=None) -> None:
        self.logits_fn, self.window = logits_fn, int(window)
        self.batch_size, self.device = max(1, int(batch_size)), device

    def score(self, rows) -> list[TokenScores]:
        """``rows``: (ids, first) pairs; each row's targets are ``ids[first:]`` (first ≥ 1)."""
        pieces = []  # (row, a, input ids, targets)
        for r, (ids, first) in enumerate(rows):
            ids = [int(t) for t in ids]
            for lo, a, b in blocks(len(ids), first, self.window + 1, self.min_context):
                pieces.append((r, a, ids[lo:b - 1], ids[a:b]))
        found = [[] for _ in rows]
        pieces.sort(key=lambda p: -len(p[2]))
        for start in range(0, len(pieces), self.batch_size):
            chunk = pieces[start:start + self.batch_size]
            for (r, a, _, _), lp, greedy in zip(chunk, *self._run(chunk)):
                found[r].append((a, lp, greedy))
        out = []
        for parts in found:
            parts.sort(key=lambda p: p[0])
            out.append(TokenScores(np.concatenate([p[1] for p in parts]) if parts else np.zeros(0),
                                   np.concatenate([p[2] for p in parts]) if parts
                                   else np.zeros(0, dtype=bool)))
        return out

    @torch.no_grad()
    def _run(self, chunk):
        longest = max(len(p[2]) for p in chunk)
        tokens = torch.zeros(len(chunk), longest, dtype=torch.long)
        for i, (_, _, inp, _) in enumerate(chunk):
            tokens[i, :len(inp)] = torch.tensor(inp)
        lengths = torch.tensor([len(p[2]) for p in chunk])
        logits = self.logits_fn(tokens.to(self.device), lengths.to(self.device))
        lps, greedy = [], []
        for i, (_, _, inp, targets) in enumerate(chunk):
            # the last len(targets) positions of the input predict the targets; float64 row
            # by row, so a large vocabulary never doubles the whole batch's logits at once
            rows = torch.log_softmax(logits[i, len(inp) - len(targets):len(inp)].double(), -1)
            tgt = torch.tensor(targets, device=rows.device)
            lps.append(rows.gather(-1, tgt[:, None]).squeeze(-1).cpu().numpy())
            greedy.append((rows.argmax(-1) == tgt).cpu().numpy())
        return lps, greedy
