"""Built-in noise kinds: masked, uniform, hybrid (log-SNR GIDD) and gidd (time-parameterised).

Only configs live here; the processes import torch, so they load in ``make_process``
and listing or validating kinds stays fast.  Each kind checks its admissible region
(docs/theory.md §2.7: non-negative forward rates, so the NELBO is a bound) in closed
form at load time, with ``difflaws.noise.admissible``'s torch-free formulas, and so
opts out of the numerical check ``NoiseConfig.build`` runs otherwise.
"""

from __future__ import annotations

import math

import attrs
from attrs.validators import ge, gt, lt

from difflaws import hookimpl
from difflaws.errors import FieldError
from difflaws.interfaces import NoiseConfig, key
from difflaws.noise.admissible import gidd_violation, hybrid_violation
from difflaws.spec.types import ExtendedFloat


@attrs.frozen(kw_only=True)
class MaskedNoiseConfig(NoiseConfig):
    """Masked (absorbing) diffusion: π = mask; the NELBO reduces to MDLM's."""

    def proves_admissible(self) -> bool:
        return True  # π constant in λ: π − ∂π = π ≥ 0

    def make_process(self, vocab_size, mask_id, **options):
        from difflaws.noise.hybrid import ConstantShareProcess

        return ConstantShareProcess(vocab_size, mask_id, uniform=False, **options)


@attrs.frozen(kw_only=True)
class UniformNoiseConfig(NoiseConfig):
    """Uniform diffusion: π = uniform over the non-mask tokens (the mask id is never drawn)."""

    def proves_admissible(self) -> bool:
        return True  # π constant in λ: π − ∂π = π ≥ 0

    def make_process(self, vocab_size, mask_id, **options):
        from difflaws.noise.hybrid import ConstantShareProcess

        return ConstantShareProcess(vocab_size, mask_id, uniform=True, **options)


@attrs.frozen(kw_only=True)
class HybridNoiseConfig(NoiseConfig):
    """Mask/uniform hybrid with uniform share σ(scale·λ + shift); shift ±inf = masked/uniform."""

    shift: ExtendedFloat = key(0.0, doc="b in the uniform share σ(a·λ + b); -inf: masked, +inf: uniform")
    scale: float = key(1.0, doc="a in the uniform share σ(a·λ + b); must be finite")

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if math.isnan(self.shift):
            raise FieldError("shift", "must be a number or ±inf, not nan")
        if not math.isfinite(self.scale):
            raise FieldError("scale", "must be finite")
        problem = hybrid_violation(self.shift, self.scale, self.log_snr_min, self.log_snr_max)
        if problem:
            raise FieldError("scale", problem)

    def proves_admissible(self) -> bool:
        return True  # __attrs_post_init__ enforces docs/theory.md §2.7's closed form

    def make_process(self, vocab_size, mask_id, **options):
        from difflaws.noise.hybrid import HybridProcess

        return HybridProcess(vocab_size, mask_id, shift=self.shift, scale=self.scale, **options)


@attrs.frozen(kw_only=True)
class GiddNoiseConfig(NoiseConfig):
    """GIDD's time-parameterised hybrid (p_u, gamma), mapped to λ; reproduces the ICML paper."""

    p_u: float = key(0.1, validator=[ge(0.0), lt(1.0)],
                     doc="GIDD's uniform-noise level p_u (B = 2^γ·p_u/(1 − p_u)); 0: pure masking")
    gamma: float = key(1.0, validator=gt(0.0),
                       doc="GIDD's γ: the uniform term's shape, c_t = B·[t(1−t)]^(γ/2)")
    dynamic_weighting: bool = key(False,
                                  doc="train on GIDD's own default weight instead of weighting's: "
                                      "2 on masked tokens, 1 on noised ones, B/V·e^(γσ(−t)/2) on "
                                      "kept ones, clipped to 2 (the reported NELBO is unchanged)")

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        # the closed form subsumes the old check that λ(t) is monotone: see §2.7
        problem = gidd_violation(self.floored_p_u, self.gamma, self.log_snr_min, self.log_snr_max)
        if problem:
            raise FieldError("gamma", problem)

    def proves_admissible(self) -> bool:
        return True  # __attrs_post_init__ enforces docs/theory.md §2.7's closed form

    @property
    def floored_p_u(self) -> float:
        """p_u, raised to e^−20 unless it is exactly 0 (docs/theory.md §1.2 floor)."""
        return max(self.p_u, math.exp(-20)) if self.p_u > 0 else 0.0

    def make_process(self, vocab_size, mask_id, **options):
        from difflaws.noise.gidd import GiddProcess

        return GiddProcess(vocab_size, mask_id, p_u=self.floored_p_u, gamma=self.gamma,
                           dynamic_weighting=self.dynamic_weighting, **options)


@hookimpl
def difflaws_register_kinds(register):
    register("noise", "masked", MaskedNoiseConfig)
    register("noise", "uniform", UniformNoiseConfig)
    register("noise", "hybrid", HybridNoiseConfig)
    register("noise", "gidd", GiddNoiseConfig)
