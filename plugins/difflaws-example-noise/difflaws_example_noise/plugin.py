"""The module the ``difflaws`` entry point names: the ``zipf`` noise kind's config.

Nothing here imports torch: ``difflaws kinds`` and ``difflaws validate`` load
this module, and they should stay fast.  The process itself loads in
``make_process``, only when a run needs it.
"""

from __future__ import annotations

import math

import attrs
from attrs.validators import ge

from difflaws import hookimpl
from difflaws.errors import FieldError
from difflaws.interfaces import NoiseConfig, key


def _finite(instance, attribute, value):
    if not math.isfinite(value):
        raise FieldError(attribute.name, "must be finite; the share σ(λ + shift) needs a number")


@attrs.frozen(kw_only=True)
class ZipfNoiseConfig(NoiseConfig):
    """Mask/Zipf hybrid: a share σ(λ + shift) of noise is Zipf(exponent) tokens, the rest masks."""

    # the fields below are this kind's spec keys; NoiseConfig supplies the shared ones
    exponent: float = key(1.0, validator=ge(0.0),
                          doc="Zipf exponent a of the token prior ∝ (rank + 1)^−a; 0 is uniform")
    shift: float = key(0.0, validator=_finite,
                       doc="Zipf share of the noise: σ(λ + shift), finite; larger = fewer masks")

    def make_process(self, vocab_size, mask_id, **options):
        from difflaws_example_noise.zipf import ZipfProcess

        return ZipfProcess(vocab_size, mask_id, exponent=self.exponent, shift=self.shift,
                           **options)


@hookimpl
def difflaws_register_kinds(register):
    register("noise", "zipf", ZipfNoiseConfig)
