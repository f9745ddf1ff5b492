"""The NELBO: MDLM reduction, tightness on iid data, schedule invariance of the estimate."""

from __future__ import annotations

import math

import pytest
import torch

import difflaws.noise as noise
from noise_helpers import MASK, P_DATA, V, gauss_legendre, per_token_nelbo

CLEAN = [v for v in range(V) if v != MASK]


def _iid_nelbo(proc, lo, hi, pieces=300):
    """∫_{lo}^{hi} Σ_x p(x) Σ_z q_λ(z|x)·w·(KL+IS) dλ with the exact iid denoiser x̂ = p."""
    lam, wq = gauss_legendre(lo, hi, pieces)
    L = lam.shape[0]
    x = torch.tensor(CLEAN)[None, :, None].expand(L, V - 1, V)
    z = torch.arange(V)[None, None, :].expand(L, V - 1, V)
    lam3 = lam[:, None, None].expand(L, V - 1, V)
    logits = torch.log(P_DATA.clamp_min(1e-300))  # the mask logit is excluded by the process
    q = proc.marginal(x[..., 0], lam[:, None])  # [L, x, V]
    f = proc.nelbo_integrand(logits.expand(L, V - 1, V, V), z, x, lam3)
    f = torch.where(q > 0, f, 0)
    per_lam = (P_DATA[CLEAN][None, :, None] * q * f).sum((1, 2))
    return (per_lam * wq).sum().item()


ENTROPY = -(P_DATA[P_DATA > 0] * P_DATA[P_DATA > 0].log()).sum().item()


@pytest.mark.parametrize("kind, kw", [
    ("masked", {}), ("uniform", {}), ("hybrid", {"shift": -2.0}), ("hybrid", {"shift": 0.0}),
    ("hybrid", {"shift": 2.0}), ("gidd", {"p_u": 0.2}),
])
def test_tight_on_iid_data(kind, kw):
    """Integrated over λ ∈ [−30, 30] the NELBO equals H(p) to 1e-6; on [−9, 9] it is short by < 2e-3."""
    proc = noise.build(kind, V, MASK, **kw)
    wide = _iid_nelbo(proc, -30.0, 30.0)
    assert abs(wide - ENTROPY) < 1e-6
    default = _iid_nelbo(proc, proc.log_snr_min, proc.log_snr_max, pieces=120)
    assert 0 < ENTROPY - default < 2e-3


class _RandomModel:
    """A fixed random denoiser that reads the whole noisy sequence and λ."""

    def __init__(self, T, seed=0, dtype=torch.float64):
        g = torch.Generator().manual_seed(seed)
        self.emb = torch.randn(V, V, generator=g, dtype=dtype)
        self.ctx = torch.randn(V, V, generator=g, dtype=dtype) / T
        self.pos = torch.randn(T, V, generator=g, dtype=dtype)
        self.slope = torch.randn(V, generator=g, dtype=dtype) * 0.3

    def __call__(self, z, lam):
        ctx = self.ctx[z].sum(-2, keepdim=True)
        return self.emb[z] + ctx + self.pos + lam[..., None] * self.slope


def test_masked_reduces_to_mdlm():
    """∫ E_z[Σ_i w·(KL+IS)] dλ equals MDLM's ∫₀¹ E_z[Σ_{i masked} −log x̂_i(x_i)]/(1−α) dα.

    Both sides enumerate every masking pattern of a 3-token sequence exactly; the MDLM side
    is integrated in α with its own quadrature and its own cross-entropy.
    """
    T = 3
    model = _RandomModel(T)
    proc = noise.build("masked", V, MASK)
    x = torch.tensor([1, 5, 0])
    patterns = torch.tensor([[(k >> i) & 1 for i in range(T)] for k in range(2**T)], dtype=torch.bool)
    zs = torch.where(patterns, MASK, x)  # [P, T]
    lo, hi = -9.0, 9.0

    P = len(zs)

    def pattern_probs(alpha):  # [L, P]: each token kept with probability α
        kept = (~patterns).sum(1)[None]
        return alpha[:, None] ** kept * (1 - alpha[:, None]) ** (T - kept)

    lam, wl = gauss_legendre(lo, hi, 300)
    L = lam.shape[0]
    lam_t = lam[:, None, None].expand(L, P, T)
    z_all, x_all = zs.expand(L, P, T), x.expand(L, P, T)
    f = proc.nelbo_integrand(model(z_all, lam_t), z_all, x_all, lam_t).sum(-1)
    ours = ((pattern_probs(torch.sigmoid(lam)) * f).sum(1) * wl).sum().item()

    # MDLM side in α; the 1/(1−α) factor is steep near α = 1, so a finer rule
    alphas, wa = gauss_legendre(1 / (1 + math.exp(-lo)), 1 / (1 + math.exp(-hi)), 3000)
    L = alphas.shape[0]
    lam_a = torch.log(alphas / (1 - alphas))[:, None, None].expand(L, P, T)
    logits = model(zs.expand(L, P, T), lam_a)
    logits[..., MASK] = float("-inf")
    ce = -torch.log_softmax(logits, -1).gather(-1, x.expand(L, P, T)[..., None])[..., 0]
    per_alpha = (pattern_probs(alphas) * (ce * patterns).sum(-1)).sum(1) / (1 - alphas)
    mdlm = (per_alpha * wa).sum().item()
    assert ours == pytest.approx(mdlm, rel=1e-7)


@pytest.mark.parametrize("kind, kw", [("hybrid", {"shift": 0.0}), ("masked", {})])
def test_schedule_invariance_of_monte_carlo_nelbo(kind, kw):
    """The `elbo`-weighted estimate under linear, cosine and loglinear proposals agrees with the
    exact integral (and so with each other) within 4 standard errors."""
    g = torch.Generator().manual_seed(5)
    table = torch.randn(V, V, generator=g, dtype=torch.float64)
    slope = torch.randn(V, generator=g, dtype=torch.float64) * 0.2

    def model(z, lam):
        return table[z] + lam[..., None] * slope

    B, T = 6000, 4
    x_row = torch.tensor([0, 4, 6, 1])
    truth = sum(per_token_nelbo(noise.build(kind, V, MASK, **kw), model, int(t), -9.0, 9.0)
                for t in x_row) / T
    estimates = {}
    for schedule in ("linear", "cosine", "loglinear"):
        proc = noise.build(kind, V, MASK, schedule={"kind": schedule}, **kw)
        x = x_row.expand(B, T)
        batch = proc.noise_batch(x, torch.Generator().manual_seed(6))
        logits = model(batch.z, batch.log_snr.double())
        lam = batch.log_snr.double()
        w = proc.elbo_weight(batch.z, x, lam) / proc.schedule.density(lam, -9.0, 9.0)
        per_seq = (w * proc.divergence(logits, batch.z, x, lam)).mean(1)
        mean, se = per_seq.mean().item(), per_seq.std().item() / math.sqrt(B)
        out = proc.loss(logits, batch, x)
        assert out.nelbo.item() == pytest.approx(mean, rel=1e-5)  # loss() reports this estimator
        assert abs(mean - truth) < 4 * se, (schedule, mean, truth, se)
        estimates[schedule] = (mean, se)
    (m1, s1), (m2, s2) = estimates["linear"], estimates["cosine"]
    assert abs(m1 - m2) < 4 * math.hypot(s1, s2)
