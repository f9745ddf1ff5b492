"""A Laplace proposal over λ: spends training samples near one noise level.

Schedules change only the variance of the NELBO estimate, never its value,
so focusing the proposal where the integrand is large is a pure efficiency
knob, and a good first plugin.
"""

from __future__ import annotations

import torch

from difflaws.noise.schedule import CdfSchedule


class LaplaceSchedule(CdfSchedule):
    """F(λ) = ½·exp((λ−μ)/b) below μ and 1 − ½·exp(−(λ−μ)/b) above."""

    def __init__(self, center: float, width: float) -> None:
        self.center, self.width = center, width

    def cdf(self, log_snr):
        x = (log_snr - self.center) / self.width
        return torch.where(x < 0, 0.5 * torch.exp(x.clamp(max=0)), 1 - 0.5 * torch.exp(-x.clamp(min=0)))

    def icdf(self, u):
        below = self.center + self.width * torch.log(2 * u.clamp(min=1e-300))
        above = self.center - self.width * torch.log((2 * (1 - u)).clamp(min=1e-300))
        return torch.where(u < 0.5, below, above)

    def pdf(self, log_snr):
        return torch.exp(-(log_snr - self.center).abs() / self.width) / (2 * self.width)
