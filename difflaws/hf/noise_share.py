"""The noise process ↔ the authors' ``noise_type``: the shift b of the uniform share.

The authors' prior is π_λ = s_λ·u + (1 − s_λ)·m with s_λ = σ(λ + b), u uniform
over the non-mask tokens and m the mask: docs/theory.md §2.2's mask/uniform
hybrid with scale a = 1 and shift b.  A |b| so large that the minority share
vanishes against 1 in float64 over the whole λ range is pure masking (b → −∞)
or pure uniform noise (b → +∞); the authors write ±1000 for those.

Reading b back from a run's noise is done on its mixing distribution π_λ,
whatever kind defines it, so any noise with exactly this form exports and any
other is refused.
"""

from __future__ import annotations

import math

from difflaws.errors import UserError

SATURATED = 1000.0  # the authors' finite stand-in for b = ±∞
# e^−RESOLUTION = 2^−53: a share below it is lost when added to 1 in float64
RESOLUTION = 53 * math.log(2)
PROBE_VOCAB = 5  # π_λ is uniform over the non-mask tokens, so a few of them show its form
GRID = 33
DIGITS = 12  # b read back from π_λ carries float64 round-off; 12 digits drop it


def saturation(shift: float, log_snr_min: float, log_snr_max: float) -> int:
    """−1: pure masking over the range; +1: pure uniform noise; 0: a true hybrid."""
    if shift + log_snr_max < -RESOLUTION:
        return -1
    if shift + log_snr_min > RESOLUTION:
        return 1
    return 0


def noise_for(shift: float, log_snr_min: float, log_snr_max: float):
    """The difflaws noise config whose π_λ is the authors' prior with shift ``shift``."""
    from difflaws.builtins.noise import HybridNoiseConfig, MaskedNoiseConfig, UniformNoiseConfig

    span = dict(log_snr_min=log_snr_min, log_snr_max=log_snr_max)
    pure = saturation(shift, log_snr_min, log_snr_max)
    if pure:
        return (UniformNoiseConfig if pure > 0 else MaskedNoiseConfig)(**span)
    return HybridNoiseConfig(shift=shift, scale=1.0, **span)


def shift_of(noise, where: str = "noise") -> float:
    """The b with π_λ = σ(λ + b)·u + (1 − σ(λ + b))·m over [log_snr_min, log_snr_max];
    ±inf for pure uniform / pure masked noise; a UserError for any other π_λ."""
    import torch

    refuse = UserError(f"{where}: its mixing distribution π_λ is not σ(λ + b)·uniform + "
                       "(1 − σ(λ + b))·mask for one shift b, the only noise the GIDD format "
                       "records (noise_type); export a run with masked, uniform or hybrid "
                       "noise of scale 1")
    try:
        process = noise.build(vocab_size=PROBE_VOCAB, mask_id=0)
        lam = torch.linspace(noise.log_snr_min, noise.log_snr_max, GRID, dtype=torch.float64)
        pi = process.mixing(lam).to(torch.float64)
    except (NotImplementedError, AttributeError, TypeError):
        raise refuse from None
    mask, rest = pi[:, 0], pi[:, 1:]
    if not torch.allclose(rest, rest[:, :1].expand_as(rest), rtol=1e-12, atol=0.0):
        raise refuse
    share = rest.sum(-1)
    if bool((share == 0).all()):
        return -math.inf
    if bool((mask == 0).all()):
        return math.inf
    if bool((share == 0).any()) or bool((mask == 0).any()):
        raise refuse
    shifts = share.log() - mask.log() - lam  # logit(s_λ) − λ, constant for this form
    if float(shifts.max() - shifts.min()) > 1e-9 * max(1.0, float(shifts.abs().max())):
        raise refuse
    return float(f"{float(shifts.mean()):.{DIGITS}g}")


def same_prior(a: float, b: float, log_snr_min: float, log_snr_max: float) -> bool:
    """Whether shifts ``a`` and ``b`` give the same prior over the range, to float64 precision."""
    pure = saturation(a, log_snr_min, log_snr_max)
    if pure or saturation(b, log_snr_min, log_snr_max):
        return pure == saturation(b, log_snr_min, log_snr_max)
    return abs(a - b) <= 1e-9 * max(1.0, abs(a))


def written(shift: float) -> float:
    """b as config.json holds it: finite, ±1000 for pure noise."""
    return math.copysign(SATURATED, shift) if math.isinf(shift) else shift
