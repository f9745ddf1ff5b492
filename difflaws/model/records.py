"""Per-parameter records: what a parameterization decides for each tensor.

The optimizer builds its groups from these, and the LR schedule multiplies
each group's ``lr_mult`` by the scheduled base LR every step (it never
overwrites a group's LR), so switching standard ↔ CompleteP is a spec change.
"""

from __future__ import annotations

import attrs


@attrs.frozen
class ParamRecord:
    name: str  # the parameter's qualified name in the module
    group: str  # e.g. "hidden", "embedding", "head", "norm", "bias"
    init_std: float | None  # None: leave as built; 0.0: zeros
    lr_mult: float = 1.0  # group LR = base LR × schedule(step) × lr_mult
    wd_mult: float = 0.0  # group weight decay = optimizer weight_decay × wd_mult
    eps: float | None = None  # Adam/LaProp ε for this tensor; None: the optimizer's own

    def group_key(self) -> tuple:
        return (self.group, self.lr_mult, self.wd_mult, self.eps)


def records_of(module, parameterization, width: int, depth: int) -> list[ParamRecord]:
    """One record per named parameter of ``module``, from each tensor's role tag."""
    from difflaws.model.roles import role_of

    return [parameterization.record(name, role_of(p), tuple(p.shape), width=width, depth=depth)
            for name, p in module.named_parameters()]


def init_from_records(module, records, generator=None) -> None:
    """Initialise each tensor as its record says: None leaves it, 0 zeroes it, else N(0, std²).

    Draws happen on the generator's device, so one seed gives the same model on any device.
    """
    import torch

    params = dict(module.named_parameters())
    with torch.no_grad():
        for record in records:
            p = params[record.name]
            if record.init_std is None or p.is_meta:
                continue
            if record.init_std == 0.0:
                p.zero_()
            elif generator is None or generator.device == p.device:
                p.normal_(0.0, record.init_std, generator=generator)
            else:
                draw = torch.randn(p.shape, generator=generator, device=generator.device)
                p.copy_(draw * record.init_std)
