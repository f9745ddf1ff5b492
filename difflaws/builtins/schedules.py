"""Built-in noise schedules: linear, cosine and loglinear proposals over λ."""

from __future__ import annotations

import attrs

from difflaws import hookimpl
from difflaws.interfaces import ScheduleConfig


@attrs.frozen(kw_only=True)
class LinearScheduleConfig(ScheduleConfig):
    """α = 1 − t: p(λ) = σ(λ)σ(−λ), the paper's proposal; sampler grid uniform in α."""

    def build(self, **context):
        from difflaws.noise.schedule import LinearSchedule

        return LinearSchedule()


@attrs.frozen(kw_only=True)
class CosineScheduleConfig(ScheduleConfig):
    """α = ½ + ½cos πt: p(λ) ∝ √(σ(λ)σ(−λ)); sampler grid uniform in t."""

    def build(self, **context):
        from difflaws.noise.schedule import CosineSchedule

        return CosineSchedule()


@attrs.frozen(kw_only=True)
class LogLinearScheduleConfig(ScheduleConfig):
    """λ uniform on [λ_min, λ_max]; sampler grid uniform in λ."""

    def build(self, **context):
        from difflaws.noise.schedule import LogLinearSchedule

        return LogLinearSchedule()


@hookimpl
def difflaws_register_kinds(register):
    register("schedule", "linear", LinearScheduleConfig, default=True)
    register("schedule", "cosine", CosineScheduleConfig)
    register("schedule", "loglinear", LogLinearScheduleConfig)
