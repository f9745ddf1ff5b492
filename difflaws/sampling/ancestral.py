"""Ancestral sampling (docs/theory.md §1.5 with π_λ): exact reverse steps on the schedule's λ grid."""

from __future__ import annotations

import torch

from difflaws.sampling.prompt import Prompt


class AncestralSampler:
    """Start from π at λ_min, step up the grid with ``process.reverse_step``, finish noise-free."""

    def sample(self, denoiser, process, batch_size: int, seq_len: int, steps: int,
               prompt=None, generator=None, device=None) -> torch.Tensor:
        shape = (batch_size, seq_len)
        fixed = Prompt(prompt, batch_size, seq_len, device)
        grid = process.schedule.grid(steps, process.log_snr_min, process.log_snr_max).tolist()
        z = fixed.apply(process.prior(shape, generator, device))
        targets = grid[1:] + [float("inf")]  # the last step removes the remaining noise
        with torch.no_grad():
            for lam_t, lam_s in zip(grid, targets):
                logits = denoiser(z, fixed.log_snr(lam_t, process, shape, device))
                z_s = process.reverse_step(logits, z, lam_t, lam_s, generator)
                z = torch.where(fixed.free, z_s, z)
        return z
