"""GIDD's time-parameterised hybrid (docs/theory.md §1.2), expressed in log-SNR."""

from __future__ import annotations

import math

import torch

from difflaws.noise.admissible import gidd_log_b  # noqa: F401  (torch-free; re-exported)
from difflaws.noise.logsig import log_sigmoid
from difflaws.noise.mixture import MaskUniformProcess

DYNAMIC_MAX = 2.0  # GIDD's max_loss_weight (its min, 0, is the clip's floor)


class GiddProcess(MaskUniformProcess):
    """GIDD's time-parameterised hybrid (docs/theory.md §1.2) expressed through λ.

    In time: c_t = B·[t(1−t)]^{γ/2}, α_t = (1−t)/(1+c_t), β_tπ_t = (t·m + c_t·u)/(1+c_t),
    so λ(t) = log(1−t) − log(t + c_t) and s = c_t/(t + c_t).  λ → t is solved by
    bisection on logit(t) (λ(t) decreases on the part of the time axis that
    [λ_min, λ_max] maps to: the config's admissibility check, docs/theory.md §2.7), and the
    rates follow from the chain rule: d/dλ = (d/dt)/(dλ/dt).
    """

    def __init__(self, vocab_size, mask_id, p_u: float, gamma: float,
                 dynamic_weighting: bool = False, **options):
        super().__init__(vocab_size, mask_id, **options)
        self.gamma, self.dynamic_weighting = gamma, dynamic_weighting
        self.log_b = gidd_log_b(p_u, gamma)

    def training_weight(self, z, x, log_snr, w, elbo_w) -> torch.Tensor:
        """With ``dynamic_weighting``, GIDD's "dynamic" weight (its default); else the shared one.

        Dynamic: 2 on a masked token, 1 on a token noised to another, and
        B/V·exp(γ/2·σ(−t)) on a token left as it was, all clipped to [0, 2].  σ(−t) stands
        where GIDD's code has it, in place of a log-SNR (its own comment: close enough when
        c_t is near 1), and V counts the mask token, as GIDD's tokenizer length does.
        """
        if not self.dynamic_weighting:
            return super().training_weight(z, x, log_snr, w, elbo_w)
        t = torch.sigmoid(self.time_of(torch.broadcast_to(log_snr, z.shape)))
        unchanged = math.exp(self.log_b) / self.vocab_size * torch.exp(
            0.5 * self.gamma * torch.sigmoid(-t))
        noised = torch.where(z == self.mask_id, 2.0, 1.0).to(t.dtype)
        return torch.where(z == x, unchanged, noised).clamp(0, DYNAMIC_MAX).to(w.dtype)

    def time_of(self, log_snr: torch.Tensor) -> torch.Tensor:
        """logit t(λ) in float64: bisection on logit t ∈ [−200, 200], then Newton polish.

        Solved once per distinct λ (a training batch has at most one per token).
        """
        lam, inverse = torch.unique(log_snr.detach().double().clamp(-150, 150), return_inverse=True)
        lo, hi = torch.full_like(lam, -200.0), torch.full_like(lam, 200.0)
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            too_noisy = gidd_log_snr(mid, self.log_b, self.gamma) < lam  # t too large
            hi = torch.where(too_noisy, mid, hi)
            lo = torch.where(too_noisy, lo, mid)
        lt = 0.5 * (lo + hi)
        for _ in range(3):  # bisection leaves ~4e-16 in logit t; Newton makes λ(t) exact
            step = (gidd_log_snr(lt, self.log_b, self.gamma) - lam) / self._dlam_dlogit(lt)
            lt = torch.where(torch.isfinite(step), lt - step, lt).clamp(lo, hi)
        return lt[inverse]

    def _dlam_dlogit(self, lt):
        t = torch.sigmoid(lt)
        c = (self.log_b + 0.5 * self.gamma * (log_sigmoid(lt) + log_sigmoid(-lt))).exp()
        _, _, dlam = _time_rates(t, c, self.gamma)
        return dlam * t * (1 - t)

    def _parts(self, log_snr):
        lt = self.time_of(log_snr)
        log_t, log_1mt = log_sigmoid(lt), log_sigmoid(-lt)
        log_c = self.log_b + 0.5 * self.gamma * (log_t + log_1mt)
        return log_t, log_c, torch.logaddexp(log_t, log_c)

    def log_shares(self, log_snr):
        log_t, log_c, log_tc = self._parts(log_snr)
        dtype = log_snr.dtype
        return (log_c - log_tc).to(dtype), (log_t - log_tc).to(dtype)

    def share_rates(self, log_snr):
        log_t, log_c, log_tc = self._parts(log_snr)
        t, c = log_t.exp(), log_c.exp()
        dlogc, dlog_tc, dlam = _time_rates(t, c, self.gamma)
        rho_u = (dlogc - dlog_tc) / dlam
        rho_m = -(1 / t - dlog_tc) / dlam
        return rho_u.to(log_snr.dtype), rho_m.to(log_snr.dtype)


def _time_rates(t, c, gamma):
    """d log c/dt, d log(t + c)/dt and dλ/dt at time t with c = c_t."""
    dlogc = 0.5 * gamma * (1 - 2 * t) / (t * (1 - t))
    dlog_tc = (1 + c * dlogc) / (t + c)
    return dlogc, dlog_tc, -1 / (1 - t) - dlog_tc


def gidd_log_snr(logit_t: torch.Tensor, log_b: float, gamma: float) -> torch.Tensor:
    log_t, log_1mt = log_sigmoid(logit_t), log_sigmoid(-logit_t)
    log_c = log_b + 0.5 * gamma * (log_t + log_1mt)
    return log_1mt - torch.logaddexp(log_t, log_c)
