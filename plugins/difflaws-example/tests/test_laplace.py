"""The plugin's own tests: its density integrates to one and matches its draws."""

import torch

from difflaws_example.laplace import LaplaceSchedule


def test_density_is_normalised_on_the_interval():
    schedule = LaplaceSchedule(center=1.0, width=2.0)
    grid = torch.linspace(-9, 9, 200_001, dtype=torch.float64)
    mass = torch.trapezoid(schedule.density(grid, -9.0, 9.0), grid)
    assert abs(mass.item() - 1.0) < 1e-6


def test_inverse_cdf_inverts_the_cdf():
    schedule = LaplaceSchedule(center=-0.5, width=1.5)
    u = torch.linspace(0.001, 0.999, 999, dtype=torch.float64)
    assert torch.allclose(schedule.cdf(schedule.icdf(u)), u, atol=1e-12)
