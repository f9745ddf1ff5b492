"""Built-in noise kinds: masked, uniform, hybrid (log-SNR GIDD) and gidd (time-parameterised).

Only configs live here; the processes import torch, so they load in ``make_process``
and listing or validating kinds stays fast.
"""

from __future__ import annotations

import math

import attrs
from attrs.validators import ge, gt, lt

from difflaws import hookimpl
from difflaws.noise.config import NoiseConfig
from difflaws.spec.errors import FieldError


@attrs.frozen(kw_only=True)
class MaskedNoiseConfig(NoiseConfig):
    """Masked (absorbing) diffusion: π = mask; the NELBO reduces to MDLM's."""

    def make_process(self, vocab_size, mask_id, **options):
        from difflaws.noise.hybrid import ConstantShareProcess

        return ConstantShareProcess(vocab_size, mask_id, uniform=False, **options)


@attrs.frozen(kw_only=True)
class UniformNoiseConfig(NoiseConfig):
    """Uniform diffusion: π = uniform over the non-mask tokens (the mask id is never drawn)."""

    def make_process(self, vocab_size, mask_id, **options):
        from difflaws.noise.hybrid import ConstantShareProcess

        return ConstantShareProcess(vocab_size, mask_id, uniform=True, **options)


@attrs.frozen(kw_only=True)
class HybridNoiseConfig(NoiseConfig):
    """Mask/uniform hybrid with uniform share σ(scale·λ + shift); shift ±inf = masked/uniform."""

    shift: float = 0.0
    scale: float = 1.0

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if math.isnan(self.shift):
            raise FieldError("shift", "must be a number or ±inf, not nan")
        if not math.isfinite(self.scale):
            raise FieldError("scale", "must be finite")

    def make_process(self, vocab_size, mask_id, **options):
        from difflaws.noise.hybrid import HybridProcess

        return HybridProcess(vocab_size, mask_id, shift=self.shift, scale=self.scale, **options)


@attrs.frozen(kw_only=True)
class GiddNoiseConfig(NoiseConfig):
    """GIDD's time-parameterised hybrid (p_u, gamma), mapped to λ; reproduces the ICML paper."""

    p_u: float = attrs.field(default=0.1, validator=[ge(0.0), lt(1.0)])
    gamma: float = attrs.field(default=1.0, validator=gt(0.0))

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        import torch

        from difflaws.noise.gidd import gidd_log_b, gidd_log_snr

        logit_t = torch.linspace(-30, 30, 4001, dtype=torch.float64)
        lam = gidd_log_snr(logit_t, gidd_log_b(self.floored_p_u, self.gamma), self.gamma)
        if not bool((lam[1:] < lam[:-1]).all()):
            raise FieldError("p_u", f"with gamma={self.gamma}, p_u={self.p_u} makes log-SNR "
                                    "non-monotone in t; lower p_u or gamma")

    @property
    def floored_p_u(self) -> float:
        """p_u, raised to e^−20 unless it is exactly 0 (math.md §1.2 floor)."""
        return max(self.p_u, math.exp(-20)) if self.p_u > 0 else 0.0

    def make_process(self, vocab_size, mask_id, **options):
        from difflaws.noise.gidd import GiddProcess

        return GiddProcess(vocab_size, mask_id, p_u=self.floored_p_u, gamma=self.gamma, **options)


@hookimpl
def difflaws_register_kinds(register):
    register("noise", "masked", MaskedNoiseConfig)
    register("noise", "uniform", UniformNoiseConfig)
    register("noise", "hybrid", HybridNoiseConfig)
    register("noise", "gidd", GiddNoiseConfig)
