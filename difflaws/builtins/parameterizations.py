"""Parameterizations as kinds: ``standard`` (SP) and ``completep`` (CompleteP, α = 1 by default).

Each decides, per tensor, its init std, LR multiplier, weight-decay
multiplier and Adam ε, plus the forward multipliers the backbone applies.
CompleteP's coefficients are those of the paper's absolute formulas
(docs/theory.md §3-4), so its defaults reproduce gidd-easydel exactly:

| rule                        | formula                                  | default          |
|-----------------------------|------------------------------------------|------------------|
| hidden init std             | hidden_init_scale / √d                   | 0.4 / √d         |
| hidden LR multiplier        | hidden_lr_scale / d · m_L^(α−1)          | 1 / d            |
| hidden weight decay mult.   | hidden_wd_scale · d                      | d                |
| norms/biases/sinks LR mult. | aux_lr_mult · m_L^(α−1)                  | 0.02             |
| embedding and head LR mult. | aux_lr_mult                              | 0.02             |
| residual multiplier         | (base_depth / L)^α                       | 4 / L            |
| output multiplier           | base_width / d                           | 512 / d          |
| Adam ε (all groups)         | eps_scale / (d · base_depth · m_L^α)     | 1e-8 / (d · L)   |

with m_L = L / base_depth.  Widths enter through 1/√d, 1/d and d exactly
as CompleteP's m_d = d / d_base does; the constant d_base is folded into
the coefficients.
"""

from __future__ import annotations

import attrs
from attrs.validators import and_, ge, gt, le

from difflaws import hookimpl
from difflaws.interfaces import ParameterizationConfig, key
from difflaws.model.parameterization import Multipliers
from difflaws.model.records import ParamRecord

_AUX_ROLES = ("norm", "bias", "sink")


@attrs.frozen(kw_only=True)
class StandardConfig(ParameterizationConfig):
    """Standard parameterization: one LR and init for every width and depth, no multipliers."""

    init_std: float = key(0.02, validator=ge(0.0), doc="init std of the hidden matrices")
    embedding_init_std: float = key(0.02, validator=ge(0.0), doc="init std of the token embedding")
    head_init_std: float = key(0.02, validator=ge(0.0), doc="init std of the output head")
    residual_mult: float = key(1.0, validator=gt(0.0), doc="multiplier on every residual branch")
    output_mult: float = key(1.0, validator=gt(0.0), doc="multiplier on the output logits")

    def build(self, **_):
        return StandardParameterization(self)


@attrs.frozen
class StandardParameterization:
    config: StandardConfig

    def multipliers(self, width: int, depth: int) -> Multipliers:
        return Multipliers(residual=self.config.residual_mult, output=self.config.output_mult)

    def record(self, name: str, role: str, shape: tuple, width: int, depth: int) -> ParamRecord:
        c = self.config
        std = {"hidden": c.init_std, "modulation": 0.0, "embedding": c.embedding_init_std,
               "head": c.head_init_std}.get(role, 0.0)
        decay = 1.0 if role in ("hidden", "modulation", "embedding", "head") else 0.0
        group = "hidden" if role == "modulation" else role  # adaLN matrices train with the hidden ones
        return ParamRecord(name, group, std, lr_mult=1.0, wd_mult=decay)


@attrs.frozen(kw_only=True)
class CompletePConfig(ParameterizationConfig):
    """CompleteP (Dey et al. 2025): μP widths plus 1/L residual branches; the paper's values by default."""

    alpha: float = key(1.0, validator=and_(ge(0.5), le(1.0)),
                       doc="depth exponent α: residual branches scale as (base_depth / L)^α")
    base_width: int = key(512, validator=gt(0), doc="width at which the output multiplier is 1")
    base_depth: int = key(4, validator=gt(0), doc="depth at which the residual multiplier is 1")
    hidden_init_scale: float = key(0.4, validator=ge(0.0),
                                   doc="hidden init std is hidden_init_scale / √width")
    hidden_lr_scale: float = key(1.0, validator=gt(0.0),
                                 doc="hidden LR multiplier is hidden_lr_scale / width "
                                     "(· m_L^(α−1))")
    hidden_wd_scale: float = key(1.0, validator=ge(0.0),
                                 doc="hidden weight-decay multiplier is hidden_wd_scale · width")
    aux_lr_mult: float = key(0.02, validator=gt(0.0),
                             doc="LR multiplier of embedding, head, norms, biases and sinks")
    embedding_init_std: float = key(0.02, validator=ge(0.0), doc="init std of the token embedding")
    head_init_std: float = key(0.0, validator=ge(0.0), doc="init std of the output head (0: zeros)")
    eps_scale: float = key(1e-8, validator=gt(0.0),
                           doc="Adam ε is eps_scale / (width · base_depth · m_L^α)")

    def build(self, **_):
        return CompletePParameterization(self)

    def coordcheck_defaults(self) -> dict:
        return {"lr": 0.5}  # CompleteP's base LR is that of the base shape, far above SP's


@attrs.frozen
class CompletePParameterization:
    config: CompletePConfig

    def multipliers(self, width: int, depth: int) -> Multipliers:
        c = self.config
        return Multipliers(residual=(c.base_depth / depth) ** c.alpha, output=c.base_width / width)

    def record(self, name: str, role: str, shape: tuple, width: int, depth: int) -> ParamRecord:
        c = self.config
        depth_ratio = depth / c.base_depth
        depth_lr = depth_ratio ** (c.alpha - 1.0)  # 1 at α = 1
        eps = c.eps_scale / (width * c.base_depth * depth_ratio**c.alpha)
        if role in ("hidden", "modulation"):
            std = 0.0 if role == "modulation" else c.hidden_init_scale / width**0.5
            return ParamRecord(name, "hidden", std, lr_mult=c.hidden_lr_scale / width * depth_lr,
                               wd_mult=c.hidden_wd_scale * width, eps=eps)
        if role == "embedding":
            return ParamRecord(name, "embedding", c.embedding_init_std, c.aux_lr_mult, 0.0, eps)
        if role == "head":
            return ParamRecord(name, "head", c.head_init_std, c.aux_lr_mult, 0.0, eps)
        if role in _AUX_ROLES:
            return ParamRecord(name, role, 0.0, c.aux_lr_mult * depth_lr, 0.0, eps)
        raise ValueError(f"completep has no rule for parameter role {role!r} ({name})")


@hookimpl
def difflaws_register_kinds(register):
    register("parameterization", "standard", StandardConfig)
    register("parameterization", "completep", CompletePConfig, default=True)
