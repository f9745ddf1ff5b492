"""Noise schedules: the proposal p(λ) training draws λ from, and the sampler's λ grid.

A schedule kind subclasses :class:`ScheduleConfig`; ``build(**context)``
(no context is passed) returns a ``difflaws.noise.Schedule``, which provides

* ``density(log_snr, lo, hi)``: p(λ) restricted to [lo, hi] and renormalised;
* ``sample(u, lo, hi)``: map U[0,1) draws to λ (an inverse CDF, so stratified
  draws stay stratified);
* ``grid(steps, lo, hi)`` (inherited): ``steps + 1`` ascending λ for samplers.

``difflaws.noise.CdfSchedule`` derives all three from an untruncated CDF,
its inverse and its density.  The ELBO integrand depends on λ only, so a
schedule changes the variance of the estimate, never what is estimated.
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from difflaws.interfaces.component import ComponentConfig


@attrs.frozen(kw_only=True)
class ScheduleConfig(ComponentConfig):
    """Noise schedule: how λ is drawn in training and laid out for sampling."""

    category: ClassVar[str] = "schedule"
