"""Built-in optimizers: adamw and laprop, with groups from the parameterization records."""

from __future__ import annotations

import attrs
from attrs.validators import ge, gt

from difflaws import hookimpl
from difflaws.errors import FieldError
from difflaws.interfaces import OptimizerConfig, key


def _betas(self):
    for i, b in enumerate(self.betas):
        if not 0.0 <= b < 1.0:
            raise FieldError("betas", f"betas[{i}] = {b} must lie in [0, 1)")
    if len(self.betas) != 2:
        raise FieldError("betas", "give two betas, e.g. [0.9, 0.99]")


@attrs.frozen(kw_only=True)
class _AdamFamily(OptimizerConfig):
    """Settings shared by Adam-style optimizers; ε and WD are scaled per group by the records."""

    betas: list[float] = key(factory=lambda: [0.9, 0.99],
                             doc="the two moment decay rates [β₁, β₂], each in [0, 1)")
    eps: float = key(1e-8, validator=gt(0.0),
                     doc="Adam ε where the parameterization's records set none")
    weight_decay: float = key(0.0, validator=ge(0.0),
                              doc="decoupled weight decay, times each group's wd_mult")

    def __attrs_post_init__(self):
        _betas(self)


@attrs.frozen(kw_only=True)
class AdamWConfig(_AdamFamily):
    """AdamW (decoupled weight decay); per-group LR, WD and ε from the parameterization."""

    def build(self, named_parameters, records, **context):
        import torch

        from difflaws.optim.groups import param_groups

        groups = param_groups(named_parameters, records, self.weight_decay, self.eps)
        return torch.optim.AdamW(groups, lr=self.lr, betas=tuple(self.betas), eps=self.eps,
                                 weight_decay=self.weight_decay, foreach=True)


@attrs.frozen(kw_only=True)
class LaPropConfig(_AdamFamily):
    """LaProp with debiased betas, the paper's optimizer (docs/theory.md §3)."""

    lr: float = key(0.5, validator=gt(0.0),
                    doc="base learning rate (before lr_mult and the schedule)")

    def build(self, named_parameters, records, **context):
        from difflaws.optim.groups import param_groups
        from difflaws.optim.laprop import LaProp

        groups = param_groups(named_parameters, records, self.weight_decay, self.eps)
        return LaProp(groups, lr=self.lr, betas=tuple(self.betas), eps=self.eps,
                      weight_decay=self.weight_decay)


@hookimpl
def difflaws_register_kinds(register):
    register("optimizer", "adamw", AdamWConfig, default=True)
    register("optimizer", "laprop", LaPropConfig)
