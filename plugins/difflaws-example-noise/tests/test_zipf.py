"""The zipf process, tested as a component: its π, its ELBO weight, its draws.

Expected values are derived by hand from π_λ = s·ζ + (1 − s)·δ_mask with
s = σ(λ + shift), s' = s(1 − s); the process computes them generically
(forward-mode autograd through ``mixing``), so agreement checks both.
"""

import math

import pytest
import torch

from difflaws.noise.hybrid import HybridProcess
from difflaws.plugins import PluginHost
from difflaws.spec.converter import flatten
from difflaws_example_noise import plugin
from difflaws_example_noise.zipf import ZipfProcess

V, MASK = 12, 5  # mask in the middle: ids on both sides of it must keep their ranks
LAMBDAS = torch.tensor([-8.0, -2.5, 0.0, 0.7, 3.0, 8.0], dtype=torch.float64)


def process(exponent=1.3, shift=0.5):
    return ZipfProcess(V, MASK, exponent=exponent, shift=shift)


def zipf_prior(exponent):
    """ζ by hand: weight (rank + 1)^−a for the non-mask ids in order, 0 at the mask."""
    ids = [v for v in range(V) if v != MASK]
    weights = torch.zeros(V, dtype=torch.float64)
    for rank, v in enumerate(ids):
        weights[v] = (rank + 1.0) ** -exponent
    return weights / weights.sum()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_mixing_is_a_distribution_in_the_input_dtype(dtype):
    lam = LAMBDAS.to(dtype).reshape(2, 3)
    pi = process().mixing(lam)
    assert pi.shape == (2, 3, V) and pi.dtype == dtype
    assert (pi >= 0).all()
    assert torch.allclose(pi.sum(-1), torch.ones(2, 3, dtype=dtype), atol=1e-6)


def test_mixing_is_the_documented_blend():
    lam = LAMBDAS
    s = torch.sigmoid(lam + 0.5)[:, None]
    expected = s * zipf_prior(1.3) + (1 - s) * torch.eye(V, dtype=torch.float64)[MASK]
    assert torch.allclose(process().mixing(lam), expected, atol=1e-15)


def test_elbo_weight_matches_its_closed_form():
    """w = (π − π')/(π + e^λ·1[z=x]):  z = mask → 1 + s;  z ∉ {mask, x} → s;
    z = x → s²ζ(x)/(sζ(x) + e^λ)."""
    proc, zeta, x = process(), zipf_prior(1.3), 2
    expected = torch.empty(len(LAMBDAS), V, dtype=torch.float64)
    for i, lam in enumerate(LAMBDAS.tolist()):
        s = 1 / (1 + math.exp(-(lam + 0.5)))
        expected[i] = s
        expected[i, MASK] = 1 + s
        expected[i, x] = s * s * zeta[x] / (s * zeta[x] + math.exp(lam))
    lam = LAMBDAS[:, None].expand(len(LAMBDAS), V)
    w = proc.elbo_weight(torch.arange(V).expand_as(lam), torch.tensor(x), lam)
    assert torch.allclose(w, expected, rtol=1e-10, atol=0)


def test_elbo_weight_is_finite_and_non_negative_everywhere():
    proc = process(exponent=2.0, shift=-3.0)
    lam = torch.linspace(-9, 9, 181, dtype=torch.float64)[:, None].expand(181, V)
    z = torch.arange(V).expand(181, V)
    for x in (0, V - 1):
        w = proc.elbo_weight(z, torch.tensor(x), lam)
        assert torch.isfinite(w).all() and (w >= 0).all()


def test_exponent_zero_is_the_builtin_hybrid():
    """ζ uniform makes π the hybrid's; its closed-form weight must equal the generic one."""
    ours = process(exponent=0.0, shift=0.5)
    hybrid = HybridProcess(V, MASK, shift=0.5, scale=1.0)
    lam = LAMBDAS[:, None].expand(len(LAMBDAS), V)
    z = torch.arange(V).expand_as(lam)
    assert torch.allclose(ours.mixing(LAMBDAS), hybrid.mixing(LAMBDAS), atol=1e-15)
    for x in (0, 7):
        assert torch.allclose(ours.elbo_weight(z, torch.tensor(x), lam),
                              hybrid.elbo_weight(z, torch.tensor(x), lam), rtol=1e-10)


def test_corrupt_draws_follow_the_marginal():
    """Seeded Monte Carlo: each token's frequency within 5 binomial standard errors."""
    proc, n = process(), 200_000
    gen = torch.Generator().manual_seed(0)
    for lam in (-3.0, 0.0, 2.0):
        x = torch.full((n,), 3)
        z = proc.corrupt(x, torch.tensor(lam, dtype=torch.float64), gen)
        freq = torch.bincount(z, minlength=V).double() / n
        p = proc.marginal(torch.tensor(3), torch.tensor(lam, dtype=torch.float64))
        tol = 5 * torch.sqrt(p * (1 - p) / n) + 1 / n
        assert (freq - p).abs().le(tol).all(), (lam, freq, p)


def test_training_loss_is_finite_on_random_logits():
    proc = process()
    gen = torch.Generator().manual_seed(1)
    x = torch.randint(0, V - 1, (4, 16), generator=gen)
    x = x + (x >= MASK).long()  # data never holds the mask id
    batch = proc.noise_batch(x, gen)
    out = proc.loss(torch.randn(4, 16, V, generator=gen), batch, x)
    assert torch.isfinite(out.loss) and torch.isfinite(out.nelbo) and out.nelbo > 0


def test_registered_kind_structures_and_builds():
    host = PluginHost(entry_points=False)  # built-ins only, then this plugin
    host.add(plugin, name="example-noise")
    config = host.structure("noise", {"kind": "zipf", "exponent": 0.5, "shift": -1.0})
    built = config.build(vocab_size=V, mask_id=MASK)
    assert isinstance(built, ZipfProcess) and built.exponent == 0.5 and built.shift == -1.0
    assert config.label("zipf") == "zipf(exponent=0.5, shift=-1)"
    with pytest.raises(Exception) as bad:
        host.structure("noise", {"kind": "zipf", "exponent": -1.0})
    assert [path for path, _ in flatten(bad.value, None)] == ["exponent"]
