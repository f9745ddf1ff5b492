"""Built-in optimizers: adamw and laprop, with groups from the parameterization records."""

from __future__ import annotations

import attrs
from attrs.validators import ge, gt

from difflaws import hookimpl
from difflaws.spec.errors import FieldError


def _betas(self):
    for i, b in enumerate(self.betas):
        if not 0.0 <= b < 1.0:
            raise FieldError("betas", f"betas[{i}] = {b} must lie in [0, 1)")
    if len(self.betas) != 2:
        raise FieldError("betas", "give two betas, e.g. [0.9, 0.99]")


@attrs.frozen(kw_only=True)
class _AdamFamily:
    """Settings shared by Adam-style optimizers; ε and WD are scaled per group by the records."""

    lr: float = attrs.field(default=3e-3, validator=gt(0.0))
    betas: list[float] = attrs.Factory(lambda: [0.9, 0.99])
    eps: float = attrs.field(default=1e-8, validator=gt(0.0))
    weight_decay: float = attrs.field(default=0.0, validator=ge(0.0))

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
    """LaProp with debiased betas, the paper's optimizer (math.md §3)."""

    lr: float = attrs.field(default=0.5, validator=gt(0.0))

    def build(self, named_parameters, records, **context):
        from difflaws.optim.groups import param_groups
        from difflaws.optim.laprop import LaProp

        groups = param_groups(named_parameters, records, self.weight_decay, self.eps)
        return LaProp(groups, lr=self.lr, betas=tuple(self.betas), eps=self.eps,
                      weight_decay=self.weight_decay)


@hookimpl
def difflaws_register_kinds(register):
    register("optimizer", "adamw", AdamWConfig)
    register("optimizer", "laprop", LaPropConfig)
