"""Built-in noise schedules: linear, cosine and loglinear proposals over λ."""

from __future__ import annotations

import math

import attrs
import torch

from difflaws import hookimpl
from difflaws.noise.logsig import log_sigmoid
from difflaws.noise.schedule import CdfSchedule, Schedule, logit


class LinearSchedule(CdfSchedule):
    """α = 1 − t with t uniform: F(λ) = σ(λ), p(λ) = σ(λ)σ(−λ) (math.md §2.4)."""

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


@attrs.frozen(kw_only=True)
class LinearScheduleConfig:
    """α = 1 − t: p(λ) = σ(λ)σ(−λ), the paper's proposal; sampler grid uniform in α."""

    def build(self, **context):
        return LinearSchedule()


@attrs.frozen(kw_only=True)
class CosineScheduleConfig:
    """α = ½ + ½cos πt: p(λ) ∝ √(σ(λ)σ(−λ)); sampler grid uniform in t."""

    def build(self, **context):
        return CosineSchedule()


@attrs.frozen(kw_only=True)
class LogLinearScheduleConfig:
    """λ uniform on [λ_min, λ_max]; sampler grid uniform in λ."""

    def build(self, **context):
        return LogLinearSchedule()


@hookimpl
def difflaws_register_kinds(register):
    register("schedule", "linear", LinearScheduleConfig)
    register("schedule", "cosine", CosineScheduleConfig)
    register("schedule", "loglinear", LogLinearScheduleConfig)
