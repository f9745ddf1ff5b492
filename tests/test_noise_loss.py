"""Training batch and loss: shapes, weighting, endpoints, and a third-party process end to end."""

from __future__ import annotations

import itertools
import math

import attrs
import pytest
import scipy.stats
import torch

import difflaws.noise as noise
from difflaws import hookimpl
from difflaws.errors import SpecError
from difflaws.noise import NoiseBatch, NoiseConfig, NoiseProcess
from difflaws.plugins import PluginHost, set_default_host
from difflaws.sampling import AncestralSampler
from noise_helpers import KINDS_AND_TILTED, MASK, V, TiltedMix, clean_tokens, kind_id, make, per_token_nelbo


def _batch(proc, x, lam):
    lam = torch.as_tensor(lam, dtype=torch.float32).expand(x.shape).clone()
    z = proc.corrupt(x, lam, torch.Generator().manual_seed(0))
    ones = torch.ones_like(x, dtype=torch.bool)
    return NoiseBatch(z=z, log_snr=lam, loss_mask=ones, prefix_len=torch.zeros(x.shape[0], dtype=torch.long),
                      proposal=proc.schedule.density(lam.double(), proc.log_snr_min, proc.log_snr_max).float())


@pytest.mark.parametrize("item", KINDS_AND_TILTED, ids=kind_id)
def test_loss_and_gradients_finite_at_and_beyond_the_ends(item):
    proc = make(*item)
    g = torch.Generator().manual_seed(1)
    x = clean_tokens((6, 5), g)
    for lam in (-30.0, -20.0, -9.0, 9.0, 20.0, 30.0):
        for scale in (1.0, 1e4):  # ordinary and absurdly confident logits
            logits = (scale * torch.randn(6, 5, V, generator=g)).requires_grad_()
            batch = _batch(proc, x, lam)
            batch = attrs.evolve(batch, proposal=batch.proposal.clamp_min(1e-12))  # beyond the range p = 0
            out = proc.loss(logits, batch, x)
            (out.loss + out.nelbo).backward()
            assert torch.isfinite(out.loss) and torch.isfinite(out.nelbo), (lam, scale)
            assert torch.isfinite(logits.grad).all(), (lam, scale)
            assert out.loss.dtype == torch.float32


def assert_weighted_mean(proc, seed, train_weight):
    """loss = Σ_loss-tokens ŵ·(KL+IS)/n and nelbo = Σ w/p·(KL+IS)/n (dense reference), on a
    16×12 batch with half its rows prompted; ``train_weight(batch, x, λ, w, p)`` gives ŵ."""
    g = torch.Generator().manual_seed(seed)
    x = clean_tokens((16, 12), g)
    batch = proc.noise_batch(x, g)
    logits = torch.randn(16, 12, V, generator=g, dtype=torch.float64)
    out = proc.loss(logits.float(), batch, x)
    lam = batch.log_snr.double()
    w = NoiseProcess.elbo_weight(proc, batch.z, x, lam)
    div = NoiseProcess.divergence(proc, logits, batch.z, x, lam)
    p = proc.schedule.density(lam, proc.log_snr_min, proc.log_snr_max)
    keep = batch.loss_mask
    train_w = train_weight(batch, x, lam, w, p)
    assert out.n_tokens == int(keep.sum())
    assert out.loss.item() == pytest.approx((train_w * div)[keep].sum().item() / out.n_tokens, rel=1e-4)
    assert out.nelbo.item() == pytest.approx((w / p * div)[keep].sum().item() / out.n_tokens, rel=1e-4)


def gidd_time(lam, B, gamma):
    """t with GIDD's λ(t) = log(1 − t) − log(t + c_t), c_t = B·[t(1 − t)]^(γ/2), solved by
    Brent's method on logit t (not the process's solver)."""
    from scipy.optimize import brentq

    def gap(u):  # in logs: t and 1 − t stay representable at |u| = 30
        log_t, log_1mt = -math.log1p(math.exp(-u)), -math.log1p(math.exp(u))
        log_c = math.log(B) + gamma / 2 * (log_t + log_1mt) if B > 0 else -math.inf
        return log_1mt - max(log_t, log_c) - math.log1p(math.exp(-abs(log_t - log_c))) - lam

    return 1 / (1 + math.exp(-brentq(gap, -30, 30, xtol=1e-14)))


def test_gidd_dynamic_weight_is_gidds():
    """GIDD's default "dynamic" weight, from its definition: 2 on masked tokens, 1 on tokens
    noised to another, clip(B/V·exp(γ/2·σ(−t)), 0, 2) on kept ones (V with the mask),
    B = 2^γ·p_u/(1 − p_u)."""
    p_u, gamma = 0.3, 1.5
    B = 2 ** gamma * p_u / (1 - p_u)
    proc = noise.build("gidd", V, MASK, p_u=p_u, gamma=gamma, dynamic_weighting=True,
                       prompt_fraction=0.5)

    def dynamic(batch, x, lam, w, p):
        expected = torch.empty_like(lam)
        for i, j in itertools.product(*map(range, lam.shape)):
            t = gidd_time(float(lam[i, j]), B, gamma)
            z, clean = int(batch.z[i, j]), int(x[i, j])
            kept = min(max(B / V * math.exp(gamma / 2 / (1 + math.exp(t))), 0.0), 2.0)
            expected[i, j] = 2.0 if z == MASK else kept if z == clean else 1.0
        assert {2.0, 1.0} <= set(expected.flatten().tolist()) and (expected < 1).any()
        return expected

    assert_weighted_mean(proc, 4, dynamic)


def test_only_the_gidd_kind_has_the_dynamic_weight():
    with pytest.raises(SpecError, match=r"noise\.dynamic_weighting: unknown key"):
        noise.build("masked", V, MASK, dynamic_weighting=True)


@pytest.mark.parametrize("weighting", ["paper", "elbo"])
def test_loss_is_the_documented_weighted_mean(weighting):
    """ŵ = clip(w, 0, 1e3) or w/p."""
    proc = noise.build("hybrid", V, MASK, shift=1.0, weighting=weighting, prompt_fraction=0.5)
    assert_weighted_mean(proc, 2, lambda batch, x, lam, w, p:
                         w.clamp(0, 1e3) if weighting == "paper" else w / p)


def test_noise_batch_layout():
    proc = noise.build("masked", V, MASK, prompt_fraction=0.5, per_token_fraction=0.5)
    g = torch.Generator().manual_seed(3)
    B, T = 4000, 16
    x = torch.randint(0, 3, (B, T), generator=g)
    b = proc.noise_batch(x, g)
    assert b.z.dtype == torch.long and b.log_snr.dtype == torch.float32 and b.loss_mask.dtype == torch.bool
    assert b.prefix_len.shape == (B,) and b.proposal.shape == (B, T)
    prefix = torch.arange(T)[None] < b.prefix_len[:, None]
    assert torch.equal(b.loss_mask, ~prefix)
    assert torch.equal(b.z[prefix], x[prefix])
    assert (b.log_snr[prefix] == 9.0).all()
    lam = b.log_snr[~prefix]
    assert lam.min() >= -9.0 and lam.max() <= 9.0
    # per-token rows have distinct λ within the row; about half the rows are per-token
    distinct = torch.tensor([len(set(r[m].tolist())) > 1 for r, m in zip(b.log_snr, b.loss_mask)])
    assert abs(distinct.float().mean().item() - 0.5) < 0.05
    # prompt rows: about half; their prefix fraction has CDF (1 − cos πf)/2 (KS test, p > 1e-4)
    chosen = b.prefix_len > 0
    assert abs(chosen.float().mean().item() - 0.5) < 0.05
    frac = (b.prefix_len[chosen].double() - 0.5) / (T - 1)  # L − 1 = floor(f·(T − 1))
    ks = scipy.stats.kstest(frac.numpy(), lambda f: (1 - torch.cos(torch.pi * torch.as_tensor(f))).numpy() / 2)
    assert ks.statistic < 1 / (T - 1) + 0.05
    # per-sequence λ follow the linear proposal: F(λ) = σ(λ) renormalised on [−9, 9]
    first = b.log_snr[~distinct & ~chosen, 0].double()
    lo, hi = torch.sigmoid(torch.tensor(-9.0)).item(), torch.sigmoid(torch.tensor(9.0)).item()
    u = (torch.sigmoid(first) - lo) / (hi - lo)
    assert scipy.stats.kstest(u.numpy(), "uniform").pvalue > 1e-4


def test_stratified_draws_cover_the_unit_interval():
    from difflaws.noise.schedule import stratified_uniform

    u = stratified_uniform(64, torch.Generator().manual_seed(4))
    assert torch.equal(torch.sort((u * 64).floor().long()).values, torch.arange(64))


def test_schedule_densities_integrate_to_one():
    for kind in ("linear", "cosine", "loglinear"):
        proc = noise.build("masked", V, MASK, schedule={"kind": kind}, log_snr_min=-7.0, log_snr_max=5.0)
        lam = torch.linspace(-7, 5, 200_001, dtype=torch.float64)
        dens = proc.schedule.density(lam, -7.0, 5.0)
        assert torch.trapezoid(dens, lam).item() == pytest.approx(1.0, abs=1e-6)
        # sample() inverts the CDF of that density
        u = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
        lam_u = proc.schedule.sample(u, -7.0, 5.0)
        for ui, li in zip(u.tolist(), lam_u.tolist()):
            m = lam <= li
            assert torch.trapezoid(dens[m], lam[m]).item() == pytest.approx(ui, abs=5e-5)  # one grid step of 6e-5 at density < 0.5


# -- a third-party process: only π_λ, registered through the plugin hook -----------
@attrs.frozen(kw_only=True)
class TiltedNoiseConfig(NoiseConfig):
    """Test-only: a mask/tilted-uniform mix defined by π_λ alone."""

    def make_process(self, vocab_size, mask_id, **options):
        return TiltedMix(vocab_size, mask_id, **options)


class _Plugin:
    @staticmethod
    @hookimpl
    def difflaws_register_kinds(register):
        register("noise", "tilted", TiltedNoiseConfig)


@pytest.fixture
def host_with_plugin():
    host = PluginHost(entry_points=False)
    host.add(_Plugin, name="tilted-plugin")
    set_default_host(host)
    yield host
    set_default_host(None)


def test_third_party_process_trains_and_samples(host_with_plugin):
    proc = noise.build("tilted", V, MASK, weighting="elbo")
    assert isinstance(proc, TiltedMix)
    g = torch.Generator().manual_seed(7)
    p = torch.tensor([0.5, 0.2, 0.1, 0.0, 0.1, 0.05, 0.03, 0.02])
    data = lambda n: torch.multinomial(p, n * 8, replacement=True, generator=g).view(n, 8)  # noqa: E731
    torch.manual_seed(0)
    table = torch.nn.Parameter(torch.zeros(V, V))
    bias = torch.nn.Parameter(torch.zeros(V))
    denoiser = lambda z, lam: table[z] + bias  # noqa: E731
    opt = torch.optim.Adam([table, bias], lr=0.1)

    def evaluate():  # exact NELBO of the per-token denoiser: enumerate z, quadrature over λ
        with torch.no_grad():
            model = lambda z, lam: table[z].double() + bias.double()  # noqa: E731
            return sum(p[t].item() * per_token_nelbo(proc, model, t, -9.0, 9.0)
                       for t in range(V) if p[t] > 0)

    before = evaluate()
    for _ in range(40):
        x = data(64)
        batch = proc.noise_batch(x, g)
        out = proc.loss(denoiser(batch.z, batch.log_snr), batch, x)
        opt.zero_grad()
        out.loss.backward()
        assert torch.isfinite(table.grad).all()
        opt.step()
    after = evaluate()
    entropy = -(p[p > 0] * p[p > 0].log()).sum().item()
    assert after < before - 0.3
    assert after > entropy - 2e-3  # a bound: only the missing boundary terms may undercut H
    tokens = AncestralSampler().sample(denoiser, proc, 4, 8, steps=6, generator=g)
    assert tokens.shape == (4, 8) and (tokens != MASK).all() and (tokens < V).all()
