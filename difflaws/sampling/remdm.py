"""ReMDM remasking for masked diffusion (docs/theory.md §2.6): written tokens may be remasked.

With α = σ(λ), a step from λ_t to a cleaner λ_s (α_s > α_t) draws, per free position,

    z_t ≠ m:  z_s = z_t with probability 1 − σ_t, else m                    (remask)
    z_t = m:  z_s ~ x̂ with probability (α_s − (1 − σ_t)·α_t)/(1 − α_t), else m

For any 0 ≤ σ_t ≤ σ_max = min(1, (1 − α_s)/α_t) this keeps the forward marginals
q_s(·|x) = α_s·δ_x + (1 − α_s)·m, so it runs a pretrained masked model unchanged;
σ_t = 0 is ancestral sampling.  ``remask`` chooses σ_t:

* ``cap``:     σ_t = min(η, σ_max);
* ``rescale``: σ_t = η·σ_max.

The last step (λ_s = +∞, α_s = 1) has σ_max = 0 and unmasks whatever is left.  x̂ is
the truncated prediction (``ReverseSampler.log_xhat``).  Only masked noise has these
marginals, so any other process is refused.
"""

from __future__ import annotations

import torch

from difflaws.errors import UserError
from difflaws.noise import categorical
from difflaws.sampling.reverse import ReverseSampler

ABSORBING_TOLERANCE = 1e-9


class RemaskingSampler(ReverseSampler):
    def __init__(self, remask: str = "cap", eta: float = 0.02, options=None) -> None:
        super().__init__(options)
        self.remask, self.eta = remask, eta

    def remasking(self, sigma_max: float) -> float:
        return min(self.eta, sigma_max) if self.remask == "cap" else self.eta * sigma_max

    def denoise(self, model, process, fixed, steps, generator=None, device=None):
        require_masked(process)
        shape, mask = tuple(fixed.free.shape), process.mask_id
        grid = self.grid(process, steps)
        z = fixed.apply(process.prior(shape, generator, device))
        targets = grid[1:] + [float("inf")]
        for i, (lam_t, lam_s) in enumerate(zip(grid, targets)):
            logits = model(z, fixed.log_snr(lam_t, process, shape, device))
            xhat = self.log_xhat(logits, process, final=i == len(grid) - 1).exp()
            t, s = torch.tensor([lam_t, lam_s], dtype=torch.float64).clamp(max=1e4)
            alpha_t, alpha_s, beta_t = torch.sigmoid(t), torch.sigmoid(s), torch.sigmoid(-t)
            sigma = self.remasking(float((torch.sigmoid(-s) / alpha_t).clamp(max=1.0)))
            unmask = float((alpha_s - (1 - sigma) * alpha_t) / beta_t)
            u = categorical.uniform(shape, generator, device)
            drawn = categorical.draw(xhat, generator)
            masked = z == mask
            stays = torch.where(masked, u >= unmask, u >= sigma)
            z_s = torch.where(stays, z, torch.where(masked, drawn, mask))
            z = torch.where(fixed.free, z_s, z)
        return z


def require_masked(process) -> None:
    """Refuse a process whose π_λ is not the point mass on the mask at every λ."""
    lam = torch.linspace(process.log_snr_min, process.log_snr_max, 5, dtype=torch.float64)
    try:
        pi = process.mixing(lam)
    except (AttributeError, NotImplementedError):
        pi = None
    if pi is None or bool((pi[:, process.mask_id] < 1 - ABSORBING_TOLERANCE).any()):
        raise UserError("sampler remdm: remasking keeps the marginals of masked diffusion only, "
                        "and this run's noise is not masked (π_λ puts mass on real tokens); "
                        "pick another sampler (`difflaws kinds sampler`)")
