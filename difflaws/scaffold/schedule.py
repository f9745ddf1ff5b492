"""Templates of a ``schedule`` kind: a proposal p(λ) given by its CDF, inverse and density."""

SUMMARY = "Logistic proposal over λ with scale width (width 1 is the linear schedule)"

USAGE = '''
```toml
[noise]
kind = "masked"

[noise.schedule]
kind = "${kind}"
width = 1.0
```
'''

PLUGIN = '''
"""The ``${kind}`` schedule kind: its config and registration.

The ``difflaws`` entry point names this module and difflaws imports it whenever it
starts, so it stays light: torch and the schedule itself load inside ``build``.
"""

from __future__ import annotations

import attrs
from attrs.validators import gt

from difflaws import hookimpl
from difflaws.interfaces import ScheduleConfig, key


@attrs.frozen(kw_only=True)
class ${Kind}Config(ScheduleConfig):
    """${summary}.

    A wider proposal spends more training draws (and sampler steps) at the extreme
    noise levels.  The schedule changes the variance of the NELBO estimate, never
    its value.
    """

    width: float = key(1.0, doc="scale of the logistic density over λ (1: the linear schedule)",
                       validator=gt(0.0))

    def build(self, **context):
        from ${module}.schedule import ${Kind}Schedule

        return ${Kind}Schedule(self.width)


@hookimpl
def difflaws_register_kinds(register):
    register("schedule", "${kind}", ${Kind}Config)
'''

COMPONENT = "schedule.py"

SOURCE = '''
"""The ``${kind}`` schedule: λ/width is logistic, so F(λ) = σ(λ/w).

``difflaws.noise.schedule.CdfSchedule`` derives the truncated density, the draws
(an inverse CDF, so stratified draws stay stratified) and the sampler's grid from
the untruncated ``cdf``, ``icdf`` and ``pdf`` below.
"""

from __future__ import annotations

import torch

from difflaws.noise.schedule import CdfSchedule


class ${Kind}Schedule(CdfSchedule):
    """F(λ) = σ(λ/w), F⁻¹(u) = w·logit(u), f(λ) = σ(λ/w)·σ(−λ/w)/w."""

    def __init__(self, width: float = 1.0) -> None:
        self.width = float(width)

    def cdf(self, log_snr):
        return torch.sigmoid(log_snr / self.width)

    def icdf(self, u):
        return self.width * (torch.log(u) - torch.log1p(-u))

    def pdf(self, log_snr):
        x = log_snr / self.width
        return torch.sigmoid(x) * torch.sigmoid(-x) / self.width
'''

TEST_IMPORTS = '''
import math

import pytest
import torch
'''

TESTS = '''
LO, HI = -9.0, 9.0


@pytest.mark.parametrize("width", [1.0, 3.0])
def test_density_integrates_to_one_on_the_interval(host, width):
    schedule = host.structure(CATEGORY, {"kind": KIND, "width": width}).build()
    grid = torch.linspace(LO, HI, 200_001, dtype=torch.float64)
    mass = torch.trapezoid(schedule.density(grid, LO, HI), grid)
    assert abs(mass.item() - 1.0) < 1e-6


def test_draws_follow_the_density(host):
    schedule = host.structure(CATEGORY, {"kind": KIND, "width": 2.0}).build()
    u = torch.rand(200_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    lam = schedule.sample(u, LO, HI)
    assert lam.min() >= LO and lam.max() <= HI
    # the fraction of draws below 2 is the truncated logistic's mass below 2, in closed form
    F = lambda x: 1 / (1 + math.exp(-x / 2.0))  # noqa: E731
    expected = (F(2.0) - F(LO)) / (F(HI) - F(LO))
    assert abs((lam < 2.0).double().mean().item() - expected) < 0.005  # 5 standard errors


def test_sampler_grid_ascends_over_the_interval(host):
    schedule = host.structure(CATEGORY, {"kind": KIND}).build()
    grid = schedule.grid(16, LO, HI)
    assert grid.shape == (17,)
    assert torch.all(grid[1:] > grid[:-1])
    assert abs(grid[0].item() - LO) < 1e-9 and abs(grid[-1].item() - HI) < 1e-9
'''
