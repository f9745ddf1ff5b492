"""The module the ``difflaws`` entry point names: it registers the kinds."""

from __future__ import annotations

import attrs
from attrs.validators import gt

from difflaws import hookimpl
from difflaws.interfaces import ScheduleConfig, key


@attrs.frozen(kw_only=True)
class LaplaceScheduleConfig(ScheduleConfig):
    """Laplace proposal over λ centred on ``center`` with scale ``width``."""

    center: float = key(0.0, doc="the λ the proposal is centred on")
    width: float = key(2.0, doc="the Laplace scale b (larger: flatter)", validator=gt(0.0))

    def build(self, **context):
        from difflaws_example.laplace import LaplaceSchedule  # torch loads only when used

        return LaplaceSchedule(self.center, self.width)


@hookimpl
def difflaws_register_kinds(register):
    register("schedule", "laplace", LaplaceScheduleConfig)
