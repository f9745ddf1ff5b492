"""Built-in samplers: ancestral, adaptive, self-correction and remdm (diffusion); next-token (AR).

Every sampler draws from a truncated prediction (:class:`TruncationKeys`:
temperature, top-k, top-p, min-p, ``difflaws.sampling.truncation``); the diffusion
samplers share block-wise generation, step skipping and a greedy last step
(:class:`ReverseProcessKeys`, ``difflaws.sampling.reverse``).
"""

from __future__ import annotations

import math

import attrs
from attrs.validators import ge, gt, in_, le

from difflaws import hookimpl
from difflaws.interfaces import LEFT_TO_RIGHT, SamplerConfig, key


@attrs.frozen(kw_only=True)
class TruncationKeys(SamplerConfig):
    """The keys of the truncated distribution a sampler draws tokens from (a mixin)."""

    temperature: float = key(1.0, validator=ge(0.0),
                             doc="softmax temperature of the prediction; 0: greedy")
    top_k: int = key(0, validator=ge(0), doc="keep the k most probable tokens; 0: all")
    top_p: float = key(1.0, validator=[gt(0.0), le(1.0)],
                       doc="keep the most probable tokens up to this mass; 1: all")
    min_p: float = key(0.0, validator=[ge(0.0), le(1.0)],
                       doc="keep tokens at least this fraction of the top one's probability")

    def truncation(self):
        from difflaws.sampling.truncation import Truncation

        return Truncation(self.temperature, self.top_k, self.top_p, self.min_p)


@attrs.frozen(kw_only=True)
class ReverseProcessKeys(TruncationKeys):
    """The keys every reverse-process sampler shares (a mixin): truncation, blocks, skipping."""

    block_length: int = key(0, validator=ge(0),
                            doc="tokens per block of semi-autoregressive generation, each "
                                "denoised with `steps` steps; 0: one block")
    kv_cache: bool = key(True, doc="feed finished blocks once through the backbone's KV "
                                   "cache; false: recompute them at every step")
    skip_unchanged: bool = key(True, doc="reuse the logits when a step changed no token and "
                                         "the backbone ignores λ (exact)")
    greedy_final: bool = key(False, doc="the last step takes the argmax of the prediction")

    def options(self):
        from difflaws.sampling.reverse import ReverseOptions

        return ReverseOptions(self.truncation(), self.block_length, self.kv_cache,
                              self.skip_unchanged, self.greedy_final)


@attrs.frozen(kw_only=True)
class AncestralSamplerConfig(ReverseProcessKeys):
    """Exact ancestral reverse steps on the noise schedule's λ grid (docs/theory.md §1.5)."""

    def build(self, **context):
        from difflaws.sampling.ancestral import AncestralSampler

        return AncestralSampler(self.options())


@attrs.frozen(kw_only=True)
class AdaptiveSamplerConfig(ReverseProcessKeys):
    """Confidence-ordered writes that can revise tokens under uniform noise (docs/theory.md §2.6)."""

    tokens_per_step: int = key(0, validator=ge(0),
                               doc="positions rewritten per step; 0: ceil(free positions of "
                                   "the block / steps)")
    temperature: float = key(0.0, validator=ge(0.0),
                             doc="softmax temperature of the prediction; 0: argmax")

    def build(self, **context):
        from difflaws.sampling.adaptive import AdaptiveSampler

        return AdaptiveSampler(self.tokens_per_step, self.options())


@attrs.frozen(kw_only=True)
class SelfCorrectionSamplerConfig(ReverseProcessKeys):
    """GIDD self-correction: ancestral sampling, then best-scoring replacements at fixed λ."""

    log_snr: float = key(math.log(0.99 / 0.01),
                         doc="the fixed λ of the correction steps; default: GIDD's t0 = "
                             "0.01 with α = 1 − t")
    correction_temperature: float = key(0.1, validator=gt(0.0),
                                        doc="temperature τ of the correction candidates, "
                                            "drawn ∝ (truncated prediction)^(1/τ)")
    positions_per_iteration: int = key(1, validator=gt(0),
                                       doc="positions replaced per correction iteration")
    max_iterations: int = key(128, validator=ge(0), doc="most correction iterations; 0: none")
    patience: int = key(32, validator=gt(0),
                        doc="stop after this many iterations without more argmax agreement")

    def build(self, **context):
        from difflaws.sampling.self_correction import SelfCorrectionSampler

        return SelfCorrectionSampler(self.log_snr, self.correction_temperature,
                                     self.positions_per_iteration, self.max_iterations,
                                     self.patience, self.options())


@attrs.frozen(kw_only=True)
class RemdmSamplerConfig(ReverseProcessKeys):
    """ReMDM remasking for masked diffusion: written tokens may be remasked (docs/theory.md §2.6)."""

    remask: str = key("cap", validator=in_(("cap", "rescale")),
                      doc="remasking schedule: cap: σ = min(eta, σ_max); rescale: σ = eta·σ_max")
    eta: float = key(0.02, validator=[ge(0.0), le(1.0)],
                     doc="η of the remasking schedule; 0: ancestral sampling")

    def build(self, **context):
        from difflaws.sampling.remdm import RemaskingSampler

        return RemaskingSampler(self.remask, self.eta, self.options())


@attrs.frozen(kw_only=True)
class NextTokenSamplerConfig(TruncationKeys):
    """Autoregressive decoding with a KV cache: temperature, then top-k, top-p and min-p."""

    def family(self) -> str:
        return LEFT_TO_RIGHT

    def build(self, **context):
        from difflaws.sampling.next_token import NextTokenSampler

        return NextTokenSampler(self.truncation())


@hookimpl
def difflaws_register_kinds(register):
    register("sampler", "ancestral", AncestralSamplerConfig, default=True)
    register("sampler", "adaptive", AdaptiveSamplerConfig)
    register("sampler", "self-correction", SelfCorrectionSamplerConfig)
    register("sampler", "remdm", RemdmSamplerConfig)
    register("sampler", "next-token", NextTokenSamplerConfig)
