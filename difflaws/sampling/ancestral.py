"""Ancestral sampling (docs/theory.md §1.5 with π_λ): exact reverse steps on the schedule's λ grid."""

from __future__ import annotations

import torch

from difflaws.sampling.reverse import ReverseSampler


class AncestralSampler(ReverseSampler):
    """Start from π at λ_min, step up the grid with ``process.reverse_step``, finish noise-free.

    The truncated x̂ (``ReverseSampler.log_xhat``) enters the posterior in place of the
    model's: the step draws from q_s(·|x̂) with the truncated x̂.  ``steps`` + 1 denoiser
    calls per block: one per grid step and the last step to λ = +∞.
    """

    def denoise(self, model, process, fixed, steps, generator=None, device=None):
        shape = tuple(fixed.free.shape)
        grid = self.grid(process, steps)
        z = fixed.apply(process.prior(shape, generator, device))
        targets = grid[1:] + [float("inf")]  # the last step removes the remaining noise
        for i, (lam_t, lam_s) in enumerate(zip(grid, targets)):
            logits = model(z, fixed.log_snr(lam_t, process, shape, device))
            log_xhat = self.log_xhat(logits, process, final=i == len(grid) - 1)
            z_s = process.reverse_step(log_xhat, z, lam_t, lam_s, generator)
            z = torch.where(fixed.free, z_s, z)
        return z
