"""Truncated sampling distributions: temperature, top-k, top-p (nucleus) and min-p.

Applied in that order to one row of logits at a time, in float64:

* temperature τ divides the logits (τ = 0: greedy, the argmax alone);
* top-k keeps the k most probable tokens (0: all);
* top-p keeps the smallest set of most probable tokens whose mass reaches p
  (the token that crosses p is kept; 1: all);
* min-p keeps the tokens whose probability is at least p_min times the most
  probable one's (0: all).

Ties at a cut-off are kept together, so the result never depends on how a sort
orders equal probabilities.  ``banned`` ids (the mask token) get probability 0
before anything else.
"""

from __future__ import annotations

import attrs
import torch


@attrs.frozen
class Truncation:
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    min_p: float = 0.0

    def settings(self) -> dict:
        return attrs.asdict(self)

    def probabilities(self, logits: torch.Tensor, banned: tuple[int, ...] = ()) -> torch.Tensor:
        """[..., V] logits → [..., V] float64 probabilities, renormalised after truncation."""
        logits = logits.to(torch.float64).clone()
        if banned:
            logits[..., list(banned)] = float("-inf")
        if self.temperature == 0:
            greedy = logits == logits.amax(-1, keepdim=True)
            first = greedy.to(torch.int8).argmax(-1, keepdim=True)  # one token even on a tie
            return torch.zeros_like(logits).scatter_(-1, first, 1.0)
        probs = torch.softmax(logits / self.temperature, -1)
        keep = probs > 0
        if self.top_k:
            kth = probs.topk(min(self.top_k, probs.shape[-1]), -1).values[..., -1:]
            keep &= probs >= kth
        if self.top_p < 1.0:
            keep &= _nucleus(probs, self.top_p)
        if self.min_p > 0.0:
            keep &= probs >= self.min_p * probs.amax(-1, keepdim=True)
        kept = torch.where(keep, probs, 0.0)
        return kept / kept.sum(-1, keepdim=True)


def _nucleus(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Mask of the smallest most-probable set with mass ≥ top_p, ties at the edge included."""
    ordered, _ = probs.sort(-1, descending=True)
    before = ordered.cumsum(-1) - ordered  # mass strictly above each sorted entry
    edge = torch.where(before < top_p, ordered, torch.inf).amin(-1, keepdim=True)
    return probs >= edge
