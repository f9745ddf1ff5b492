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
