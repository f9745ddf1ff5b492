"""μP (Yang & Hu 2021, Adam variant) for width only: the ``mup`` parameterization kind.

With d the width and d₀ = ``base_width`` (where μP coincides with the base LR):

| tensor (role)                 | init std              | LR multiplier | weight decay mult. |
|-------------------------------|-----------------------|---------------|--------------------|
| hidden matrices (hidden)      | hidden_init_scale/√d  | d₀/d          | d/d₀               |
| adaLN matrices (modulation)   | 0                     | d₀/d          | d/d₀               |
| embedding (embedding)         | embedding_init_std    | 1             | 0                  |
| LM head (head)                | head_init_std (0)     | 1             | 0                  |
| gains, biases, sinks          | 0                     | 1             | 0                  |

Forward multipliers: output (logits) d₀/d, residual 1, embedding 1.  Why:
Adam moves every entry of a matrix by ~LR, so a fan-in-d matrix changes its
output by ~LR·d; LR ∝ 1/d keeps that update Θ(1).  The head sums d
coordinates that become correlated with training, so its output is scaled by
1/d.  Decoupled decay shrinks a weight by LR·wd per step; wd ∝ d keeps that
product, and so the decay's effect, independent of width.  Depth is not
scaled (residual multiplier 1): that is what CompleteP adds.
"""

from __future__ import annotations

import attrs
from attrs.validators import ge, gt

from difflaws import hookimpl
from difflaws.interfaces import ParameterizationConfig, key
from difflaws.model.parameterization import Multipliers
from difflaws.model.records import ParamRecord

COORDCHECK_LR = 0.005  # a typical Adam LR at the base width; see coordcheck_defaults


@attrs.frozen(kw_only=True)
class MuPConfig(ParameterizationConfig):
    """μP for width (Adam): hidden init 1/√d, LR ∝ 1/d, logits × base_width/d; depth unscaled."""

    base_width: int = key(256, validator=gt(0),
                          doc="width at which every multiplier is 1 (the base LR is tuned here)")
    hidden_init_scale: float = key(1.0, validator=ge(0.0),
                                   doc="hidden matrices start at N(0, (scale/√width)²)")
    embedding_init_std: float = key(0.02, validator=ge(0.0),
                                    doc="token-embedding init std (width-independent)")
    head_init_std: float = key(0.0, validator=ge(0.0),
                               doc="LM-head init std; 0 (zeros) is μP's recommendation")

    def build(self, **context):
        return MuP(self)

    def coordcheck_defaults(self) -> dict:
        # at the base width μP is SP, so an ordinary Adam LR; widths below it get larger
        # hidden LRs (d₀/d), which coordcheck is there to show are still well-behaved
        return {"lr": COORDCHECK_LR}


@attrs.frozen
class MuP:
    """The built rules: a backbone asks for its multipliers and one record per tensor."""

    config: MuPConfig

    def multipliers(self, width: int, depth: int) -> Multipliers:
        return Multipliers(residual=1.0, output=self.config.base_width / width)

    def record(self, name: str, role: str, shape: tuple, width: int, depth: int) -> ParamRecord:
        c = self.config
        ratio = width / c.base_width
        if role in ("hidden", "modulation"):
            # adaLN matrices train like hidden ones but start at zero (adaLN-Zero)
            std = 0.0 if role == "modulation" else c.hidden_init_scale / width ** 0.5
            return ParamRecord(name, "hidden", std, lr_mult=1.0 / ratio, wd_mult=ratio)
        if role == "embedding":
            return ParamRecord(name, "embedding", c.embedding_init_std, lr_mult=1.0)
        if role == "head":
            return ParamRecord(name, "head", c.head_init_std, lr_mult=1.0)
        if role in ("norm", "bias", "sink"):
            return ParamRecord(name, role, 0.0, lr_mult=1.0)
        raise ValueError(f"mup has no rule for parameter role {role!r} ({name})")


@hookimpl
def difflaws_register_kinds(register):
    register("parameterization", "mup", MuPConfig)
