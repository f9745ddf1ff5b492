"""GIDD self-correction (docs/theory.md §1.5): ancestral sampling, then fixed-λ token replacement.

Each iteration draws one candidate per position from softmax(logits/τ), scores it
by its tempered probability when it differs from the current token, and replaces
the top-k positions.  It stops when nothing changes, after ``patience`` iterations
without raising the share of positions equal to the argmax, or after
``max_iterations``.
"""

from __future__ import annotations

import torch

from difflaws.noise import categorical
from difflaws.sampling.ancestral import AncestralSampler
from difflaws.sampling.prompt import Prompt


class SelfCorrectionSampler:
    def __init__(self, log_snr: float, temperature: float = 0.1, top_k: int = 1,
                 max_iterations: int = 128, patience: int = 32) -> None:
        self.log_snr, self.temperature, self.top_k = log_snr, temperature, top_k
        self.max_iterations, self.patience = max_iterations, patience

    def sample(self, denoiser, process, batch_size: int, seq_len: int, steps: int,
               prompt=None, generator=None, device=None) -> torch.Tensor:
        z = AncestralSampler().sample(denoiser, process, batch_size, seq_len, steps,
                                      prompt, generator, device)
        return self.correct(denoiser, process, z, prompt, generator, device)

    def correct(self, denoiser, process, z, prompt=None, generator=None, device=None):
        shape = z.shape
        fixed = Prompt(prompt, *shape, device)
        lam = fixed.log_snr(self.log_snr, process, shape, device)
        best_agreement, stale = -1.0, 0
        with torch.no_grad():
            for _ in range(self.max_iterations):
                logp = process.denoised_log_probs(denoiser(z, lam).double())
                agreement = float((z == logp.argmax(-1))[fixed.free].float().mean()) if fixed.free.any() else 1.0
                if agreement > best_agreement:
                    best_agreement, stale = agreement, 0
                else:
                    stale += 1
                    if stale >= self.patience:
                        break
                tempered = torch.log_softmax(logp / self.temperature, -1)
                cand = categorical.draw(tempered.exp(), generator)
                p_cand = tempered.gather(-1, cand.unsqueeze(-1)).squeeze(-1).exp()
                score = torch.where(fixed.free & (cand != z), p_cand, 0)
                chosen = fixed.choose(score, self.top_k)
                if not chosen.any():
                    break
                z = torch.where(chosen, cand, z)
        return z
