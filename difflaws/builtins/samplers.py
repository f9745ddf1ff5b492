"""Built-in samplers: ancestral, adaptive and self-correction."""

from __future__ import annotations

import math

import attrs
from attrs.validators import ge, gt

from difflaws import hookimpl
from difflaws.interfaces import SamplerConfig, key


@attrs.frozen(kw_only=True)
class AncestralSamplerConfig(SamplerConfig):
    """Exact ancestral reverse steps on the noise schedule's λ grid (docs/theory.md §1.5)."""

    def build(self, **context):
        from difflaws.sampling.ancestral import AncestralSampler

        return AncestralSampler()


@attrs.frozen(kw_only=True)
class AdaptiveSamplerConfig(SamplerConfig):
    """Confidence-ordered writes that can revise tokens under uniform noise (docs/theory.md §2.6)."""

    tokens_per_step: int = key(0, validator=ge(0),
                               doc="positions rewritten per step; 0: ceil(seq_len / steps)")
    temperature: float = key(0.0, validator=ge(0.0), doc="sampling temperature; 0: argmax")

    def build(self, **context):
        from difflaws.sampling.adaptive import AdaptiveSampler

        return AdaptiveSampler(self.tokens_per_step, self.temperature)


@attrs.frozen(kw_only=True)
class SelfCorrectionSamplerConfig(SamplerConfig):
    """GIDD self-correction: ancestral sampling, then top-k replacement at fixed λ."""

    log_snr: float = key(math.log(0.99 / 0.01),
                         doc="the fixed λ of the correction steps; default: GIDD's t0 = "
                             "0.01 with α = 1 − t")
    temperature: float = key(0.1, validator=gt(0.0), doc="temperature τ of the candidate draws")
    top_k: int = key(1, validator=gt(0), doc="positions replaced per iteration")
    max_iterations: int = key(128, validator=ge(0), doc="most correction iterations; 0: none")
    patience: int = key(32, validator=gt(0),
                        doc="stop after this many iterations without more argmax agreement")

    def build(self, **context):
        from difflaws.sampling.self_correction import SelfCorrectionSampler

        return SelfCorrectionSampler(self.log_snr, self.temperature, self.top_k,
                                     self.max_iterations, self.patience)


@hookimpl
def difflaws_register_kinds(register):
    register("sampler", "ancestral", AncestralSamplerConfig, default=True)
    register("sampler", "adaptive", AdaptiveSamplerConfig)
    register("sampler", "self-correction", SelfCorrectionSamplerConfig)
