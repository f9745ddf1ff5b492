"""The forward process: corruption follows the marginal; closed forms equal the generic path."""

from __future__ import annotations

import math

import pytest
import scipy.stats
import torch

import difflaws.noise as noise
from difflaws.noise import NoiseProcess
from difflaws.errors import UserError
from noise_helpers import KINDS, KINDS_AND_TILTED, MASK, V, TiltedMix, clean_tokens, kind_id, make


@pytest.mark.parametrize("item", KINDS_AND_TILTED, ids=kind_id)
def test_corruption_follows_marginal(item):
    """Chi-square (p > 1e-4 cut) and TV < 0.01 per clean token and λ; zero-mass ids never drawn."""
    proc = make(*item)
    gen = torch.Generator().manual_seed(1)
    n = 40_000
    for lam in (-4.0, 0.0, 2.5):
        for x_tok in (0, 5):
            x = torch.full((n,), x_tok)
            z = proc.corrupt(x, lam, gen)
            counts = torch.bincount(z, minlength=V).double()
            probs = proc.marginal(torch.tensor([x_tok]), lam)[0].double()
            assert probs.sum().item() == pytest.approx(1.0, abs=1e-6)
            assert counts[probs == 0].sum() == 0  # e.g. the mask under uniform noise
            live = probs > 0
            expected = probs[live] * n
            chi2 = ((counts[live] - expected) ** 2 / expected).sum().item()
            assert chi2 < scipy.stats.chi2.isf(1e-4, int(live.sum()) - 1), (lam, x_tok)
            assert 0.5 * (counts / n - probs).abs().sum() < 0.01


def test_hybrid_shares_match_math_md():
    """docs/theory.md §2.2: P(z=x) = σ(λ) + σ(−λ)s/N, P(z=m) = σ(−λ)(1−s), other v: σ(−λ)s/N."""
    proc = noise.build("hybrid", V, MASK, shift=2.0)
    for lam in (-3.0, 0.5, 4.0):
        s = 1 / (1 + math.exp(-(lam + 2.0)))
        sig, sig_neg = 1 / (1 + math.exp(-lam)), 1 / (1 + math.exp(lam))
        q = proc.marginal(torch.tensor([1]), torch.tensor(lam, dtype=torch.float64))[0]
        assert q[1].item() == pytest.approx(sig + sig_neg * s / (V - 1), rel=1e-12)
        assert q[MASK].item() == pytest.approx(sig_neg * (1 - s), rel=1e-12)
        assert q[6].item() == pytest.approx(sig_neg * s / (V - 1), rel=1e-12)


def test_gidd_marginal_matches_time_form():
    """docs/theory.md §1.2 in t: α_t = (1−t)/C_t, β_tπ_t = (t·m + c_t·u)/C_t, at λ(t) = logit α_t."""
    p_u, gamma = 0.2, 1.0
    proc = noise.build("gidd", V, MASK, p_u=p_u, gamma=gamma)
    B = 2**gamma * p_u / (1 - p_u)
    for t in (0.01, 0.3, 0.5, 0.9):
        c = B * (t * (1 - t)) ** (gamma / 2)
        alpha = (1 - t) / (1 + c)
        lam = torch.tensor(math.log(alpha / (1 - alpha)), dtype=torch.float64)
        q = proc.marginal(torch.tensor([2]), lam)[0]
        assert q[2].item() == pytest.approx(alpha + c / (1 + c) / (V - 1), rel=1e-9)
        assert q[MASK].item() == pytest.approx(t / (1 + c), rel=1e-9)
        assert q[7].item() == pytest.approx(c / (1 + c) / (V - 1), rel=1e-9)
    # the uniformly-noised fraction σ(−λ)·s = c_t/C_t equals p_u at t = ½ (docs/theory.md §1.2)
    t = 0.5
    c = B * 0.25 ** (gamma / 2)
    lam = torch.tensor(math.log((1 - t) / (t + c)), dtype=torch.float64)
    log_s, _ = proc.log_shares(lam)
    assert (torch.sigmoid(-lam) * log_s.exp()).item() == pytest.approx(p_u, rel=1e-9)


def _generic_weight_fd(proc, z, x, lam, h=1e-5):
    """w from the generic formula with a central finite-difference ∂_λπ_λ."""
    pi = NoiseProcess.mixing(proc, lam) if type(proc).mixing is NoiseProcess.mixing else proc.mixing(lam)
    dpi = (proc.mixing(lam + h) - proc.mixing(lam - h)) / (2 * h)
    pz = pi.gather(-1, z[..., None])[..., 0]
    dz = dpi.gather(-1, z[..., None])[..., 0]
    return (pz - dz) / (pz + torch.exp(lam) * (z == x))


@pytest.mark.parametrize("item", KINDS, ids=kind_id)
def test_closed_form_weights_match_finite_differences(item):
    proc = make(*item)
    lam = torch.linspace(-8, 8, 17, dtype=torch.float64)[:, None, None].expand(17, V, V)
    x = torch.arange(V)[None, :, None].expand(17, V, V)
    z = torch.arange(V)[None, None, :].expand(17, V, V)
    possible = (proc.marginal(x[..., 0], lam[..., 0]).gather(-1, z) > 0) & (x != MASK)
    closed = proc.elbo_weight(z, x, lam)
    fd = _generic_weight_fd(proc, z, x, lam)
    torch.testing.assert_close(closed[possible], fd[possible], rtol=1e-6, atol=1e-8)
    # and the generic path (JVP derivative) agrees with both
    generic = NoiseProcess.elbo_weight(proc, z, x, lam)
    torch.testing.assert_close(closed[possible], generic[possible], rtol=1e-9, atol=1e-12)


def test_hybrid_weight_table():
    """docs/theory.md §2.3 closed forms for a = 1: 1 + s on masks, s on other tokens, s²/(s + Ne^λ) on x."""
    proc = noise.build("hybrid", V, MASK, shift=0.5)
    lam = torch.tensor(1.3, dtype=torch.float64)
    s = torch.sigmoid(lam + 0.5)
    w = proc.elbo_weight(torch.tensor([MASK, 6, 2]), torch.tensor([2, 2, 2]), lam)
    expected = torch.stack([1 + s, s, s**2 / (s + (V - 1) * lam.exp())])
    torch.testing.assert_close(w, expected, rtol=1e-12, atol=0)


@pytest.mark.parametrize("item", KINDS_AND_TILTED, ids=kind_id)
def test_divergence_override_equals_dense(item):
    """Values and logit-gradients of the chunked KL+IS equal the dense log-space reference."""
    proc = make(*item)
    gen = torch.Generator().manual_seed(2)
    lam = torch.tensor([-20.0, -9.0, -3.0, 0.0, 2.0, 9.0, 20.0], dtype=torch.float64)[:, None].expand(7, 6)
    x = clean_tokens((7, 6), gen)
    z = proc.corrupt(x, lam, gen)
    z[0, 0], z[1, 1] = x[0, 0], x[1, 1]
    logits = (3 * torch.randn(7, 6, V, generator=gen, dtype=torch.float64)).requires_grad_()
    fast = proc.divergence(logits, z, x, lam)
    g_fast, = torch.autograd.grad(fast.sum(), logits)
    dense = NoiseProcess.divergence(proc, logits, z, x, lam)
    g_dense, = torch.autograd.grad(dense.sum(), logits)
    torch.testing.assert_close(fast, dense, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(g_fast, g_dense, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("item", KINDS, ids=kind_id)
def test_mixing_overrides_equal_generic(item):
    proc = make(*item)
    lam = torch.linspace(-9, 9, 7, dtype=torch.float64)
    pi = proc.mixing(lam)
    torch.testing.assert_close(pi.sum(-1), torch.ones(7, dtype=torch.float64))
    z = torch.arange(V)[None, :].expand(7, V)
    torch.testing.assert_close(proc.log_mixing_at(z, lam[:, None]).exp(), pi)
    h = 1e-5
    fd = (proc.mixing(lam + h) - proc.mixing(lam - h)) / (2 * h)
    torch.testing.assert_close(proc.mixing_derivative(lam), fd, rtol=1e-6, atol=1e-9)


def test_generic_derivative_uses_autograd():
    proc = TiltedMix(V, MASK)
    lam = torch.tensor([-2.0, 0.0, 3.0], dtype=torch.float64)
    h = 1e-5
    fd = (proc.mixing(lam + h) - proc.mixing(lam - h)) / (2 * h)
    torch.testing.assert_close(proc.mixing_derivative(lam), fd, rtol=1e-6, atol=1e-10)


def test_uniform_noise_never_draws_mask():
    proc = noise.build("uniform", 5, 0)
    z = proc.corrupt(torch.full((20_000,), 2), -10.0, torch.Generator().manual_seed(3))
    assert (z != 0).all()
    assert set(z.tolist()) == {1, 2, 3, 4}


@pytest.mark.parametrize("kw, key", [
    ({"log_snr_min": 3.0, "log_snr_max": 2.0}, "noise.log_snr_max"),
    ({"per_token_fraction": 1.5}, "noise.per_token_fraction"),
    ({"prompt_fraction": -0.1}, "noise.prompt_fraction"),
    ({"weighting": "clipped"}, "noise.weighting"),
    ({"log_snr_min": float("-inf")}, "noise.log_snr_min"),
    ({"shfit": 1.0}, "noise.shfit"),
])
def test_bad_config_is_a_user_error(kw, key):
    with pytest.raises(UserError) as info:
        noise.build("hybrid", V, MASK, **kw)
    assert key in str(info.value)


def test_gidd_rejects_non_monotone_log_snr():
    with pytest.raises(UserError, match="p_u"):
        noise.build("gidd", V, MASK, p_u=0.9, gamma=4.0)


def test_unknown_kind_suggests():
    with pytest.raises(UserError, match="did you mean 'masked'"):
        noise.build("maskd", V, MASK)
