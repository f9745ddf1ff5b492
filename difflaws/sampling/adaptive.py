"""Adaptive sampling (docs/theory.md §2.6): confidence-ordered writes that may revise tokens.

Each step scores position i by (max_v x̂_i(v) − x̂_i(z_i))·π_λ(z_i), with π_λ(z_i)
normalised over positions, and rewrites the top ``tokens_per_step`` positions with
a draw from the truncated x̂ (temperature 0, the default: the argmax).  The scores
use the model's own x̂, so the order stays confidence-ordered whatever the
truncation.  Under masked noise π puts no mass on written tokens, so this is
confidence-ordered unmasking; under uniform noise any token can be revised.
"""

from __future__ import annotations

import math

import torch

from difflaws.noise import categorical
from difflaws.sampling.reverse import GREEDY, ReverseOptions, ReverseSampler


class AdaptiveSampler(ReverseSampler):
    def __init__(self, tokens_per_step: int = 0, options=None) -> None:
        super().__init__(options or ReverseOptions(truncation=GREEDY))
        self.tokens_per_step = tokens_per_step  # 0: ceil(free positions / steps)

    def denoise(self, model, process, fixed, steps, generator=None, device=None):
        shape = tuple(fixed.free.shape)
        # a prompt's positions are never written: spread only the free ones over the steps
        n = self.tokens_per_step or math.ceil(int(fixed.free.sum(1).max()) / steps)
        grid = self.grid(process, steps)
        z = fixed.apply(process.prior(shape, generator, device))
        for lam in grid[:-1]:
            logits = model(z, fixed.log_snr(lam, process, shape, device))
            z = self._write(z, logits, process, lam, fixed, n, generator)
        # anything still masked is filled from the final prediction
        logits = model(z, fixed.log_snr(grid[-1], process, shape, device))
        fill = categorical.draw(self.log_xhat(logits, process, final=True).exp(), generator)
        return torch.where(fixed.free & (z == process.mask_id), fill, z)

    def _write(self, z, logits, process, lam, fixed, n, generator):
        logp = process.denoised_log_probs(logits.double())
        best = logp.max(-1).values.exp()
        current = logp.gather(-1, z.unsqueeze(-1)).squeeze(-1).exp()
        lam_t = torch.full(z.shape, lam, dtype=torch.float64, device=z.device)
        noise = process.log_mixing_at(z, lam_t).exp()
        noise = torch.where(fixed.free, noise, 0)
        noise = noise / noise.sum(1, keepdim=True).clamp_min(1e-300)
        score = torch.where(fixed.free, (best - current) * noise, -1.0)
        chosen = fixed.choose(score, n)
        new = categorical.draw(self.log_xhat(logits, process).exp(), generator)
        return torch.where(chosen, new, z)
