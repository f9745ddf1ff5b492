"""GIDD self-correction (docs/theory.md §1.5): ancestral sampling, then fixed-λ token replacement.

Each iteration draws one candidate per position from the truncated x̂ tempered by
τ (``correction_temperature``: ∝ x̂^(1/τ); with no truncation, softmax(logits/τ)),
scores it by its tempered probability when it differs from the current token,
and replaces the top ``positions_per_iteration`` positions.  It stops when
nothing changes, after ``patience`` iterations without raising the share of
positions equal to the argmax, or after ``max_iterations``.  With block-wise
generation each block is corrected before it joins the context.
"""

from __future__ import annotations

import torch

from difflaws.noise import categorical
from difflaws.sampling.ancestral import AncestralSampler
from difflaws.sampling.blocks import whole_sequence
from difflaws.sampling.prompt import Prompt


class SelfCorrectionSampler(AncestralSampler):
    def __init__(self, log_snr: float, correction_temperature: float = 0.1,
                 positions_per_iteration: int = 1, max_iterations: int = 128,
                 patience: int = 32, options=None) -> None:
        super().__init__(options)
        self.log_snr, self.correction_temperature = log_snr, correction_temperature
        self.positions_per_iteration = positions_per_iteration
        self.max_iterations, self.patience = max_iterations, patience

    def denoise(self, model, process, fixed, steps, generator=None, device=None):
        z = super().denoise(model, process, fixed, steps, generator, device)
        return self._correct(model, process, fixed, z, generator, device)

    def correct(self, denoiser, process, z, prompt=None, generator=None, device=None):
        """Only the correction phase, on the whole of ``z`` [B, T] (``prompt`` kept)."""
        fixed = Prompt(prompt, *z.shape, device)
        model = whole_sequence(denoiser, process, z.shape[0], self.options.skip_unchanged)
        with torch.no_grad():
            return self._correct(model, process, fixed, z, generator, device)

    def _correct(self, model, process, fixed, z, generator, device):
        shape = tuple(z.shape)
        lam = fixed.log_snr(self.log_snr, process, shape, device)
        best_agreement, stale = -1.0, 0
        for _ in range(self.max_iterations):
            logits = model(z, lam)
            argmax = process.denoised_log_probs(logits.double()).argmax(-1)
            agreement = float((z == argmax)[fixed.free].float().mean()) if fixed.free.any() else 1.0
            if agreement > best_agreement:
                best_agreement, stale = agreement, 0
            else:
                stale += 1
                if stale >= self.patience:
                    break
            tempered = torch.log_softmax(self.log_xhat(logits, process) / self.correction_temperature, -1)
            cand = categorical.draw(tempered.exp(), generator)
            p_cand = tempered.gather(-1, cand.unsqueeze(-1)).squeeze(-1).exp()
            score = torch.where(fixed.free & (cand != z), p_cand, 0)
            chosen = fixed.choose(score, self.positions_per_iteration)
            if not chosen.any():
                break
            z = torch.where(chosen, cand, z)
        return z
