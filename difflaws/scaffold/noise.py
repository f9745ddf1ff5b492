"""Templates of a ``noise`` kind: a ``NoiseProcess`` defined by its mixing distribution π_λ."""

SUMMARY = "Uniform noise over the non-mask tokens, with a share mask_share on the mask token"

USAGE = '''
```toml
[noise]
kind = "${kind}"
mask_share = 0.0   # 0: uniform diffusion; 1: masked diffusion
```

Every noise kind also takes the shared keys (`log_snr_min`, `log_snr_max`,
`weighting`, `[noise.schedule]`, ...): see `difflaws kinds noise`.
'''

PLUGIN = '''
"""The ``${kind}`` noise kind: its config and registration.

The ``difflaws`` entry point names this module and difflaws imports it whenever it
starts, so it stays light: torch and the process itself load inside ``make_process``.
"""

from __future__ import annotations

import attrs
from attrs.validators import and_, ge, le

from difflaws import hookimpl
from difflaws.interfaces import NoiseConfig, key


@attrs.frozen(kw_only=True)
class ${Kind}Config(NoiseConfig):
    """${summary}.

    The keys every noise kind shares (λ range, schedule, weighting, ...) come from
    ``NoiseConfig``; this kind adds its own below.  Runs are labelled and grouped by
    them, e.g. ``${kind}(mask_share=0.5)``.
    """

    mask_share: float = key(0.0, doc="share of π on the mask token; the rest is uniform "
                                     "over the other tokens (0: uniform, 1: masked)",
                            validator=and_(ge(0.0), le(1.0)))

    def make_process(self, vocab_size, mask_id, **options):
        from ${module}.process import ${Kind}Process

        return ${Kind}Process(vocab_size, mask_id, mask_share=self.mask_share, **options)


@hookimpl
def difflaws_register_kinds(register):
    register("noise", "${kind}", ${Kind}Config)
'''

COMPONENT = "process.py"

SOURCE = '''
"""The ``${kind}`` process: π_λ puts ``mask_share`` on the mask token and spreads the
rest uniformly over the other tokens, at every λ.

``difflaws.noise.NoiseProcess`` derives everything else from ``mixing``: the
marginal q_λ(z|x) = σ(λ)·1[z=x] + σ(−λ)·π_λ(z), corruption, the ELBO weight, the
training loss and the ancestral reverse step.  To make the mixture move with the
noise level, compute π_λ from ``log_snr`` with torch operations (∂_λπ_λ comes from
``torch.func.jvp``, so no ``.item()`` and no in-place writes to ``log_snr``).
"""

from __future__ import annotations

import torch

from difflaws.noise.process import NoiseProcess


class ${Kind}Process(NoiseProcess):
    def __init__(self, vocab_size: int, mask_id: int, mask_share: float = 0.0, **options):
        super().__init__(vocab_size, mask_id, **options)
        if vocab_size < 2:
            raise ValueError("a vocabulary needs a token besides the mask")
        self.mask_share = float(mask_share)

    def mixing(self, log_snr: torch.Tensor) -> torch.Tensor:
        """π_λ as probabilities [..., V] for λ of shape [...], in λ's dtype and device."""
        V = self.vocab_size
        pi = torch.full((V,), (1.0 - self.mask_share) / (V - 1), dtype=log_snr.dtype,
                        device=log_snr.device)
        pi[self.mask_id] = self.mask_share
        return pi.expand(*log_snr.shape, V)  # the same π for every λ: ∂_λπ_λ = 0
'''

TEST_IMPORTS = '''
import math

import pytest
import torch
'''

TESTS = '''
V, MASK = 16, 15


def test_mixing_is_a_distribution_with_mask_share_on_the_mask(host):
    for share in (0.0, 0.3):
        config = host.structure(CATEGORY, {"kind": KIND, "mask_share": share})
        process = config.build(vocab_size=V, mask_id=MASK)
        log_snr = torch.linspace(-9, 9, 7, dtype=torch.float64)[:, None].expand(7, 3)
        pi = process.mixing(log_snr)
        assert pi.shape == (7, 3, V) and pi.dtype == torch.float64
        assert torch.allclose(pi.sum(-1), torch.ones(7, 3, dtype=torch.float64), atol=1e-12)
        assert torch.all(pi[..., MASK] == share)
        others = torch.full((7, 3), (1 - share) / (V - 1), dtype=torch.float64)
        assert torch.allclose(pi[..., 0], others)


def test_full_noise_never_draws_the_mask_when_its_share_is_zero(host):
    process = host.structure(CATEGORY, {"kind": KIND}).build(vocab_size=V, mask_id=MASK)
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(0, MASK, (8, 64), generator=generator)
    z = process.corrupt(x, torch.tensor(-30.0), generator)
    assert not (z == MASK).any()
    # at λ = −30 nearly every token is redrawn, keeping its value with chance 1/15
    assert (z != x).float().mean() > 0.8


def test_the_training_loss_is_finite(host):
    process = host.structure(CATEGORY, {"kind": KIND}).build(vocab_size=V, mask_id=MASK)
    generator = torch.Generator().manual_seed(1)
    x = torch.randint(0, MASK, (4, 32), generator=generator)
    batch = process.noise_batch(x, generator)
    out = process.loss(torch.zeros(4, 32, V), batch, x)
    assert math.isfinite(float(out.loss)) and math.isfinite(float(out.nelbo))
    assert float(out.nelbo) >= 0
'''
