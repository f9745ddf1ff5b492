"""Built-in samplers: ancestral, adaptive and self-correction."""

from __future__ import annotations

import math

import attrs
from attrs.validators import ge, gt

from difflaws import hookimpl


@attrs.frozen(kw_only=True)
class AncestralSamplerConfig:
    """Exact ancestral reverse steps on the noise schedule's λ grid (math.md §1.5)."""

    def build(self, **context):
        from difflaws.sampling.ancestral import AncestralSampler

        return AncestralSampler()


@attrs.frozen(kw_only=True)
class AdaptiveSamplerConfig:
    """Confidence-ordered writes that can revise tokens under uniform noise (math.md §2.6)."""

    tokens_per_step: int = attrs.field(default=0, validator=ge(0))  # 0: ceil(seq_len / steps)
    temperature: float = attrs.field(default=0.0, validator=ge(0.0))  # 0: argmax

    def build(self, **context):
        from difflaws.sampling.adaptive import AdaptiveSampler

        return AdaptiveSampler(self.tokens_per_step, self.temperature)


@attrs.frozen(kw_only=True)
class SelfCorrectionSamplerConfig:
    """GIDD self-correction: ancestral sampling, then top-k replacement at fixed λ."""

    log_snr: float = math.log(0.99 / 0.01)  # GIDD's t0 = 0.01 with α = 1 − t
    temperature: float = attrs.field(default=0.1, validator=gt(0.0))
    top_k: int = attrs.field(default=1, validator=gt(0))
    max_iterations: int = attrs.field(default=128, validator=ge(0))
    patience: int = attrs.field(default=32, validator=gt(0))

    def build(self, **context):
        from difflaws.sampling.self_correction import SelfCorrectionSampler

        return SelfCorrectionSampler(self.log_snr, self.temperature, self.top_k,
                                     self.max_iterations, self.patience)


@hookimpl
def difflaws_register_kinds(register):
    register("sampler", "ancestral", AncestralSamplerConfig)
    register("sampler", "adaptive", AdaptiveSamplerConfig)
    register("sampler", "self-correction", SelfCorrectionSamplerConfig)
