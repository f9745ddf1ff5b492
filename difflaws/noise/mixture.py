"""Processes whose π_λ mixes the mask with uniform noise: π_λ = s_λ·u + (1−s_λ)·m.

u is uniform over the N = V−1 non-mask tokens.  Such a process supplies
log s_λ and log(1−s_λ) (``log_shares``); the rates d log s/dλ and
−d log(1−s)/dλ default to forward-mode autograd.  Everything else has a
closed form that never builds a [tokens, V] tensor except the logits'
own chunks (see ``divergence``).  The tests check each closed form against
the dense ``NoiseProcess`` path.
"""

from __future__ import annotations

import math

import torch

from difflaws.noise import categorical
from difflaws.noise.divergence import mixture_divergence
from difflaws.noise.process import NoiseProcess, as_log_snr, compute_dtype


class MaskUniformProcess(NoiseProcess):
    """π_λ = s_λ·u + (1−s_λ)·m with the uniform share s_λ given in log form."""

    # -- what a mixture process supplies --------------------------------
    def log_shares(self, log_snr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(log s_λ, log(1 − s_λ)); −inf is allowed for a pure process."""
        raise NotImplementedError

    def share_rates(self, log_snr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(ρ_u, ρ_m) = (s'/s, s'/(1−s)) with ′ = d/dλ."""
        lam = log_snr.detach().clone()
        one = torch.ones_like(lam)
        _, (dlog_s, dlog_1ms) = torch.func.jvp(self.log_shares, (lam,), (one,))
        return torch.nan_to_num(dlog_s), torch.nan_to_num(-dlog_1ms)

    # -- closed forms ---------------------------------------------------
    @property
    def log_n(self) -> float:
        return math.log(self.vocab_size - 1)

    def mixing(self, log_snr):
        log_s, log_1ms = self.log_shares(log_snr)
        shape = (*log_s.shape, self.vocab_size)
        pi = (log_s - self.log_n).exp()[..., None].expand(shape).clone()
        pi[..., self.mask_id] = log_1ms.exp()
        return pi

    def mixing_derivative(self, log_snr):
        rho_u, _ = self.share_rates(log_snr)
        log_s, _ = self.log_shares(log_snr)
        ds = rho_u * log_s.exp()  # s' = ρ_u·s
        out = (ds / (self.vocab_size - 1))[..., None].expand(*ds.shape, self.vocab_size).clone()
        out[..., self.mask_id] = -ds
        return out

    def mixing_with_derivative(self, log_snr):
        return self.mixing(log_snr), self.mixing_derivative(log_snr)

    def mixing_classes(self, log_snr):
        """Two classes, mask and non-mask, unless a subclass redefines π or ∂π densely."""
        if (type(self).mixing is not MaskUniformProcess.mixing
                or type(self).mixing_derivative is not MaskUniformProcess.mixing_derivative):
            return None
        log_s, log_1ms = self.log_shares(log_snr)
        rho_u, _ = self.share_rates(log_snr)
        ds = rho_u * log_s.exp()
        pi = torch.stack([(log_s - self.log_n).exp(), log_1ms.exp()], -1)
        dpi = torch.stack([ds / (self.vocab_size - 1), -ds], -1)
        real = 0 if self.mask_id != 0 else 1
        return pi, dpi, torch.tensor([real, self.mask_id]), torch.tensor([self.vocab_size - 1, 1])

    def log_mixing_at(self, z, log_snr):
        log_s, log_1ms = self.log_shares(log_snr)
        return torch.where(z == self.mask_id, log_1ms, log_s - self.log_n)

    def sample_mixing(self, log_snr, generator=None):
        log_s, _ = self.log_shares(log_snr)
        dev = log_s.device
        is_u = categorical.uniform(log_s.shape, generator, dev) < log_s.double().exp()
        u = categorical.uniform_non_mask(log_s.shape, self.vocab_size, self.mask_id, generator, dev)
        return torch.where(is_u, u, torch.full_like(u, self.mask_id))

    def elbo_weight(self, z, x, log_snr):
        # docs/theory.md §2.3 with ρ_u = s'/s, ρ_m = s'/(1−s):
        #   z = m: 1 + ρ_m;  z ∉ {m, x}: 1 − ρ_u;  z = x: (1 − ρ_u)·σ(log(s/N) − λ)
        lam = as_log_snr(log_snr, z)
        rho_u, rho_m = self.share_rates(lam)
        log_s, _ = self.log_shares(lam)
        kept = (1 - rho_u) * torch.sigmoid(log_s - self.log_n - lam)
        w = torch.where(z == x, kept, 1 - rho_u)
        return torch.where(z == self.mask_id, 1 + rho_m, w)

    def divergence(self, logits, z, x, log_snr):
        dtype = compute_dtype(logits, log_snr)
        lam = as_log_snr(log_snr, z, dtype)
        log_s, _ = self.log_shares(lam)
        log_k = (log_s - self.log_n).to(dtype)
        shape = lam.shape
        flat = logits.reshape(-1, self.vocab_size)
        out = mixture_divergence(flat, torch.broadcast_to(z, shape).reshape(-1),
                                 torch.broadcast_to(x, shape).reshape(-1), lam.reshape(-1),
                                 log_k.reshape(-1), self.mask_id, dtype)
        return out.reshape(shape)
