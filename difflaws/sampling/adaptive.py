"""Adaptive sampling (docs/theory.md §2.6): confidence-ordered writes that may revise tokens.

Each step scores position i by (max_v x̂_i(v) − x̂_i(z_i))·π_λ(z_i), with π_λ(z_i)
normalised over positions, and rewrites the top ``tokens_per_step`` positions with
the argmax (or a tempered draw).  Under masked noise π puts no mass on written
tokens, so this is confidence-ordered unmasking; under uniform noise any token
can be revised.
"""

from __future__ import annotations

import math

import torch

from difflaws.noise import categorical
from difflaws.sampling.prompt import Prompt


class AdaptiveSampler:
    def __init__(self, tokens_per_step: int = 0, temperature: float = 0.0) -> None:
        self.tokens_per_step = tokens_per_step  # 0: ceil(seq_len / steps)
        self.temperature = temperature

    def sample(self, denoiser, process, batch_size: int, seq_len: int, steps: int,
               prompt=None, generator=None, device=None) -> torch.Tensor:
        shape = (batch_size, seq_len)
        fixed = Prompt(prompt, batch_size, seq_len, device)
        n = self.tokens_per_step or math.ceil(seq_len / steps)
        grid = process.schedule.grid(steps, process.log_snr_min, process.log_snr_max).tolist()
        z = fixed.apply(process.prior(shape, generator, device))
        with torch.no_grad():
            for lam in grid[:-1]:
                logits = denoiser(z, fixed.log_snr(lam, process, shape, device))
                logp = process.denoised_log_probs(logits.double())
                z = self._write(z, logp, process, lam, fixed, n, generator)
            # anything still masked is filled from the final prediction
            logits = denoiser(z, fixed.log_snr(grid[-1], process, shape, device))
            logp = process.denoised_log_probs(logits.double())
            fill = categorical.draw_from_logits(logp, generator, self.temperature)
            z = torch.where(fixed.free & (z == process.mask_id), fill, z)
        return z

    def _write(self, z, logp, process, lam, fixed, n, generator):
        best = logp.max(-1).values.exp()
        current = logp.gather(-1, z.unsqueeze(-1)).squeeze(-1).exp()
        lam_t = torch.full(z.shape, lam, dtype=torch.float64, device=z.device)
        noise = process.log_mixing_at(z, lam_t).exp()
        noise = torch.where(fixed.free, noise, 0)
        noise = noise / noise.sum(1, keepdim=True).clamp_min(1e-300)
        score = torch.where(fixed.free, (best - current) * noise, -1.0)
        chosen = fixed.choose(score, n)
        new = categorical.draw_from_logits(logp, generator, self.temperature)
        return torch.where(chosen, new, z)
