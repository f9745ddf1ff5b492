"""Generation from a trained model ``(tokens [B,T], log_snr [B,T]) -> logits [B,T,V]``."""

from difflaws.sampling.adaptive import AdaptiveSampler
from difflaws.sampling.ancestral import AncestralSampler
from difflaws.sampling.denoiser import CountedDenoiser
from difflaws.sampling.next_token import NextTokenSampler
from difflaws.sampling.remdm import RemaskingSampler
from difflaws.sampling.reverse import ReverseOptions, ReverseSampler
from difflaws.sampling.self_correction import SelfCorrectionSampler

__all__ = ["AncestralSampler", "AdaptiveSampler", "CountedDenoiser", "NextTokenSampler",
           "RemaskingSampler", "ReverseOptions", "ReverseSampler", "SelfCorrectionSampler"]
