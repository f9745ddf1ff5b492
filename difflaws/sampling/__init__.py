"""Generation from a denoiser ``(tokens [B,T], log_snr [B,T]) -> logits [B,T,V]``, for any process."""

from difflaws.sampling.adaptive import AdaptiveSampler
from difflaws.sampling.ancestral import AncestralSampler
from difflaws.sampling.self_correction import SelfCorrectionSampler

__all__ = ["AncestralSampler", "AdaptiveSampler", "SelfCorrectionSampler"]
