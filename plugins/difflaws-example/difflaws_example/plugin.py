"""The module the ``difflaws`` entry point names: it registers the kinds."""

from __future__ import annotations

import attrs
from attrs.validators import gt

from difflaws import hookimpl


@attrs.frozen(kw_only=True)
class LaplaceScheduleConfig:
    """Laplace proposal over λ centred on ``center`` with scale ``width``."""

    center: float = 0.0
    width: float = attrs.field(default=2.0, validator=gt(0.0))

    def build(self, **context):
        from difflaws_example.laplace import LaplaceSchedule  # torch loads only when used

        return LaplaceSchedule(self.center, self.width)


@hookimpl
def difflaws_register_kinds(register):
    register("schedule", "laplace", LaplaceScheduleConfig)
