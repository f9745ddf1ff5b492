"""Categorical draws in float64.

Gumbel-argmax or inverse-CDF in fp32 visibly biases rare tokens at large
vocabularies (the CDF's last ulp is ~1e-7 of the total mass), so every draw
here is an inverse-CDF lookup on float64 cumulative sums.
"""

from __future__ import annotations

import torch


def uniform(shape, generator=None, device=None) -> torch.Tensor:
    """U[0, 1) draws in float64."""
    return torch.rand(shape, generator=generator, dtype=torch.float64, device=device)


def draw(probs: torch.Tensor, generator=None) -> torch.Tensor:
    """One draw per row of unnormalised non-negative ``probs`` [..., V] -> long [...]."""
    cdf = probs.to(torch.float64).cumsum(-1)
    u = uniform(cdf.shape[:-1], generator, cdf.device) * cdf[..., -1]
    idx = torch.searchsorted(cdf, u.unsqueeze(-1), right=True).squeeze(-1)
    return idx.clamp_(max=probs.shape[-1] - 1)


def draw_from_logits(logits: torch.Tensor, generator=None, temperature: float = 1.0) -> torch.Tensor:
    """Draw from softmax(logits / temperature) in float64; temperature 0 is argmax."""
    if temperature == 0:
        return logits.argmax(-1)
    scaled = logits.to(torch.float64) / temperature
    return draw(torch.softmax(scaled, -1), generator)


def uniform_non_mask(shape, vocab_size: int, mask_id: int, generator=None, device=None) -> torch.Tensor:
    """Tokens uniform over the V-1 non-mask ids; the mask id is never drawn."""
    r = (uniform(shape, generator, device) * (vocab_size - 1)).long().clamp_(max=vocab_size - 2)
    return r + (r >= mask_id).long()
