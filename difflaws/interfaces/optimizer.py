"""Optimizers, which build their parameter groups from the parameterization's records.

An optimizer kind subclasses :class:`OptimizerConfig`.  ``build`` receives
``named_parameters`` (an iterator of ``(name, tensor)``) and ``records``
(one ``ParamRecord`` per name) and returns a ``torch.optim.Optimizer``.
Build the groups with ``difflaws.optim.groups.param_groups``: every group
then carries ``lr_mult``, and the trainer's schedule sets each group's LR to
``lr × schedule(step) × lr_mult`` every step, so the config must have an
``lr`` field (the base learning rate).
"""

from __future__ import annotations

from typing import ClassVar

import attrs
from attrs.validators import gt

from difflaws.interfaces.component import ComponentConfig


@attrs.frozen(kw_only=True)
class OptimizerConfig(ComponentConfig):
    """Optimizer: builds its groups from the parameterization's records."""

    category: ClassVar[str] = "optimizer"

    lr: float = attrs.field(default=3e-3, validator=gt(0.0),
                            metadata={"doc": "base learning rate (before lr_mult and the schedule)"})

    def build(self, named_parameters, records, **context):
        raise NotImplementedError(f"{type(self).__qualname__} does not implement build()")
