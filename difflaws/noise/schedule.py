"""Noise schedules: the proposal density p(λ) used in training and the sampler's λ grid.

The ELBO integrand depends on λ only (docs/theory.md §2.3), so a schedule never
changes what is estimated, only the variance of the estimate and where a
sampler spends its steps.

Truncation convention: λ is drawn from the schedule's density *restricted to
[λ_min, λ_max] and renormalised*, and ``density`` returns that renormalised
density.  The unbiased ``elbo`` weighting w/p(λ) therefore estimates exactly
∫_{λmin}^{λmax} E[w·(KL+IS)] dλ.  (The reference code truncates without
renormalising; for the linear schedule on ±9 the two differ by the retained
mass 0.99975, a constant factor on the ``paper`` objective's scale only.)
"""

from __future__ import annotations

import math

import torch

from difflaws.noise.logsig import log_sigmoid


class Schedule:
    """A proposal over λ on a finite interval; subclasses give density, draws and grid."""

    def density(self, log_snr: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
        raise NotImplementedError

    def sample(self, u: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
        """Map U[0,1) draws to λ in [lo, hi] (inverse CDF, so stratified u stay stratified)."""
        raise NotImplementedError

    def grid(self, steps: int, lo: float, hi: float) -> torch.Tensor:
        """``steps + 1`` ascending λ (noisy to clean): the proposal's quantiles."""
        u = torch.linspace(0.0, 1.0, steps + 1, dtype=torch.float64)
        return self.sample(u, lo, hi).clamp(lo, hi)


class CdfSchedule(Schedule):
    """A schedule given by an untruncated CDF F(λ), its inverse and its density f(λ)."""

    def cdf(self, log_snr: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def icdf(self, u: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def pdf(self, log_snr: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _mass(self, lo: float, hi: float):
        f = self.cdf(torch.tensor([lo, hi], dtype=torch.float64))
        return f[0].item(), (f[1] - f[0]).item()

    def density(self, log_snr, lo, hi):
        _, mass = self._mass(lo, hi)
        inside = (log_snr >= lo) & (log_snr <= hi)
        return torch.where(inside, self.pdf(log_snr) / mass, torch.zeros_like(log_snr))

    def sample(self, u, lo, hi):
        start, mass = self._mass(lo, hi)
        lam = self.icdf(start + u.to(torch.float64) * mass)
        return lam.clamp(lo, hi).to(u.dtype if u.is_floating_point() else torch.float64)


def logit(p: torch.Tensor) -> torch.Tensor:
    return torch.log(p) - torch.log1p(-p)


def stratified_uniform(n: int, generator=None, device=None, stratified: bool = True) -> torch.Tensor:
    """n U[0,1) draws; stratified: one per stratum [i/n, (i+1)/n), in random order.

    Each draw is still marginally uniform, so estimators stay unbiased; the
    batch as a whole covers [0, 1) evenly, which cuts the variance of the
    batch-mean loss.
    """
    u = torch.rand(n, generator=generator, dtype=torch.float64, device=device)
    if not stratified or n == 1:
        return u
    order = torch.randperm(n, generator=generator, device=device).to(torch.float64)
    return (order + u) / n


class LinearSchedule(CdfSchedule):
    """α = 1 − t with t uniform: F(λ) = σ(λ), p(λ) = σ(λ)σ(−λ) (docs/theory.md §2.4)."""

    def cdf(self, log_snr):
        return torch.sigmoid(log_snr)

    def icdf(self, u):
        return logit(u)

    def pdf(self, log_snr):
        return torch.sigmoid(log_snr) * torch.sigmoid(-log_snr)


class CosineSchedule(CdfSchedule):
    """α = ½ + ½cos(πt) with t uniform: F(λ) = 1 − arccos(2σ(λ) − 1)/π, p(λ) = √(σ(λ)σ(−λ))/π."""

    def cdf(self, log_snr):
        return 1 - torch.arccos((2 * torch.sigmoid(log_snr) - 1).clamp(-1, 1)) / math.pi

    def icdf(self, u):
        alpha = 0.5 - 0.5 * torch.cos(math.pi * u)  # α at t = 1 − u
        return logit(alpha)

    def pdf(self, log_snr):
        return torch.exp(0.5 * (log_sigmoid(log_snr)
                                + log_sigmoid(-log_snr))) / math.pi


class LogLinearSchedule(Schedule):
    """λ uniform on [λ_min, λ_max]."""

    def density(self, log_snr, lo, hi):
        inside = (log_snr >= lo) & (log_snr <= hi)
        return torch.where(inside, torch.full_like(log_snr, 1.0 / (hi - lo)), torch.zeros_like(log_snr))

    def sample(self, u, lo, hi):
        return lo + u * (hi - lo)
