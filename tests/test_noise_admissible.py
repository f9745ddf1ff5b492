"""Admissible noise processes (docs/theory.md §2.7): π_λ − ∂_λπ_λ ≥ 0, i.e. w_λ ≥ 0.

Every boundary is tested from both sides: the built-in kinds' closed-form regions at
spec-load time, the generic numerical check against those closed forms, a finite
difference (no autograd) at the failing point, a third-party process refused through
``NoiseConfig.build``, and the reason it all matters: under an inadmissible process a
denoiser that is wrong where w < 0 scores a "NELBO" below the data entropy.
"""

from __future__ import annotations

import math
import time

import attrs
import pytest
import torch

import difflaws.noise as noise
from difflaws.builtins.noise import GiddNoiseConfig, HybridNoiseConfig
from difflaws.errors import FieldError, SpecError, UserError
from difflaws.interfaces import NoiseConfig
from difflaws.noise import NoiseProcess, admissible
from difflaws.noise.gidd import GiddProcess
from difflaws.noise.hybrid import HybridProcess
from noise_helpers import MASK, P_DATA, V, TiltedMix, gauss_legendre

LO, HI = -9.0, 9.0


def hybrid_threshold(scale, lam_min=LO):
    """The shift bound, straight from the inequalities (independent of the library):
    a > 1: a·σ(−(a·λ_min + b)) ≤ 1  ⇔  a·λ_min + b ≥ log(a − 1);
    a < −1: |a|·σ(a·λ_min + b) ≤ 1  ⇔  a·λ_min + b ≤ −log(|a| − 1)."""
    if scale > 1:
        return math.log(scale - 1) - scale * lam_min
    return -math.log(-scale - 1) - scale * lam_min


class Dense(HybridProcess):
    """The same hybrid, without token classes: the check reads all V tokens densely."""

    def mixing_classes(self, log_snr):
        return None


# -- hybrid: closed form at spec-load time ----------------------------------------------
def test_scale_two_refused_at_load_naming_the_inequality_and_fixes():
    with pytest.raises(FieldError) as info:
        HybridNoiseConfig(scale=2.0, shift=0.0)
    text = str(info.value)
    assert info.value.field == "scale"
    assert "for λ < 0 " in text  # a·λ + b < log(a − 1) = 0
    assert "σ(−(scale·log_snr_min + shift)) ≤ 1/scale" in text
    assert "|scale| ≤ 1" in text and "raise shift to at least 18" in text
    with pytest.raises(SpecError) as spec:  # through the registry, blamed on the key
        noise.build("hybrid", V, MASK, scale=2.0)
    assert "noise.scale" in str(spec.value)


@pytest.mark.parametrize("scale", [2.0, 1.5, 5.0, -2.0, -1.5, -5.0])
@pytest.mark.parametrize("lam_min", [LO, -3.0])
def test_hybrid_shift_threshold_both_sides(scale, lam_min):
    b = hybrid_threshold(scale, lam_min)
    inside, outside = (b + 1e-6, b - 1e-6) if scale > 1 else (b - 1e-6, b + 1e-6)
    HybridNoiseConfig(scale=scale, shift=inside, log_snr_min=lam_min)
    HybridNoiseConfig(scale=scale, shift=b, log_snr_min=lam_min)  # the rate is 0 at λ_min
    with pytest.raises(FieldError, match="negative rates"):
        HybridNoiseConfig(scale=scale, shift=outside, log_snr_min=lam_min)


def test_scale_minus_two_blames_the_mask():
    with pytest.raises(FieldError) as info:
        HybridNoiseConfig(scale=-2.0, shift=0.0)
    text = str(info.value)
    assert "the mask" in text and "σ(scale·log_snr_min + shift) ≤ 1/|scale|" in text
    assert "lower shift to at most -18" in text


@pytest.mark.parametrize("scale", [1.0, -1.0, 0.5, -0.3, 0.0])
def test_unit_scale_admissible_for_any_finite_shift(scale):
    for shift in (-1e6, -50.0, -18.0, -1e-3, 0.0, 7.0, 18.0, 1e6):
        for lo, hi in ((LO, HI), (-30.0, 30.0), (-1.0, 0.5)):
            cfg = HybridNoiseConfig(scale=scale, shift=shift, log_snr_min=lo, log_snr_max=hi)
            proc = cfg.build(vocab_size=V, mask_id=MASK)
            assert admissible.check(proc).ok


@pytest.mark.parametrize("shift", [float("inf"), float("-inf")])
def test_infinite_shift_is_exactly_pure_and_admissible(shift):
    for scale in (-7.0, 2.0, 40.0):
        HybridNoiseConfig(scale=scale, shift=shift)


# -- gidd: closed form --------------------------------------------------------------------
def test_gidd_gamma_four_refused_and_just_inside_accepted():
    with pytest.raises(FieldError) as info:
        GiddNoiseConfig(gamma=4.0)
    assert info.value.field == "gamma" and "gamma ≤ 2" in str(info.value)
    # closed form, written out: t* = γ/(2(γ−1)), Λ* = log(1 − t*) − log(t* + B·(t*(1 − t*))^(γ/2))
    g, p = 4.0, 0.1
    t = g / (2 * (g - 1))
    B = 2 ** g * p / (1 - p)
    crit = math.log(1 - t) - math.log(t + B * (t * (1 - t)) ** (g / 2))
    assert admissible.gidd_critical_log_snr(p, g) == pytest.approx(crit, abs=1e-12)
    GiddNoiseConfig(gamma=g, p_u=p, log_snr_min=crit + 1e-6)
    with pytest.raises(FieldError, match=f"log_snr_min to at least {crit:.6g}"):
        GiddNoiseConfig(gamma=g, p_u=p, log_snr_min=crit - 1e-6)


@pytest.mark.parametrize("p_u", [0.0, 1e-9, 0.1, 0.5, 0.9, 0.999])
def test_gidd_gamma_up_to_two_admissible_for_every_p_u(p_u):
    for gamma in (0.3, 1.0, 1.7, 2.0):
        GiddNoiseConfig(p_u=p_u, gamma=gamma, log_snr_min=-40.0, log_snr_max=40.0)
    GiddNoiseConfig(p_u=0.0, gamma=6.0)  # p_u = 0 is pure masking whatever γ


def test_gidd_just_above_gamma_two():
    # Λ* → −∞ as γ ↓ 2: γ = 2.0001 still admits λ_min = −9, γ = 2.01 does not
    GiddNoiseConfig(p_u=0.2, gamma=2.0001)
    with pytest.raises(FieldError):
        GiddNoiseConfig(p_u=0.2, gamma=2.01)


def test_gidd_non_monotone_log_snr():
    """p_u = 0.9, γ = 4: λ(t) dips to λ(t*) and climbs back before falling to −∞, so the
    range must stay above the climb's top, not just above λ(t*)."""
    lam_star = math.log(1 / 3) - math.log(2 / 3 + 2 ** 4 * 9 * (2 / 9) ** 2)  # λ(t*), t* = 2/3
    crit = admissible.gidd_critical_log_snr(0.9, 4.0)
    u = torch.logspace(-12, math.log10(1 / 3), 200_001, dtype=torch.float64)  # 1 − t past t*
    t = 1 - u
    lam = torch.log(u) - torch.log(t + 144 * (t * u) ** 2)
    assert crit > lam_star + 0.1 and crit == pytest.approx(lam.max().item(), abs=1e-8)
    with pytest.raises(FieldError, match="not monotone"):
        GiddNoiseConfig(p_u=0.9, gamma=4.0, log_snr_min=(lam_star + crit) / 2)
    cfg = GiddNoiseConfig(p_u=0.9, gamma=4.0, log_snr_min=crit + 1e-3)
    assert admissible.check(cfg.build(vocab_size=V, mask_id=MASK)).ok


# -- the generic numerical check agrees with the closed forms ------------------------------
def _hybrid_points():
    for scale in (-3.0, -2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0):
        shifts = [-25.0, -5.0, 0.0, 5.0, 25.0]
        if abs(scale) > 1:
            b = hybrid_threshold(scale)
            shifts = [s for s in shifts if abs(s - b) > 0.1] + [b - 0.01, b + 0.01]
        for shift in shifts:
            yield scale, shift


def test_numerical_check_agrees_with_hybrid_closed_form():
    seen = set()
    for scale, shift in _hybrid_points():
        closed = admissible.hybrid_violation(shift, scale, LO, HI) is None
        for cls in (HybridProcess, Dense):
            report = admissible.check(cls(V, MASK, shift=shift, scale=scale), raise_error=False)
            assert report.ok == closed, (cls.__name__, scale, shift, report)
        seen.add(closed)
        if not closed:  # the weights are monotone in λ: the failing set starts at λ_min
            assert report.failing[0] == LO and report.weight < -1e-3
            assert report.token == (MASK if scale < 0 else 0)
    assert seen == {True, False}


def test_numerical_check_agrees_with_gidd_closed_form():
    seen = set()
    for p_u in (0.05, 0.2, 0.5):
        for gamma in (1.0, 2.0, 3.0, 4.0, 6.0):
            crit = admissible.gidd_critical_log_snr(p_u, gamma)
            for lam_min in ([LO] if crit == -math.inf else [crit - 0.05, crit + 0.05]):
                closed = admissible.gidd_violation(p_u, gamma, lam_min, HI) is None
                proc = GiddProcess(V, MASK, p_u=p_u, gamma=gamma, log_snr_min=lam_min)
                report = admissible.check(proc, raise_error=False)
                assert report.ok == closed, (p_u, gamma, lam_min, report)
                seen.add(closed)
    assert seen == {True, False}


def test_finite_difference_confirms_the_failing_point():
    """Central differences of the process's own π (no autograd) at the reported worst
    point: same negative π − ∂π to O(h²) = 1e-8 relative."""
    proc = HybridProcess(V, MASK, shift=0.0, scale=2.0)
    report = admissible.check(proc, raise_error=False)
    assert not report.ok and report.failing == (LO, pytest.approx(-0.28125))  # grid λ < 0
    h = 1e-4
    lam = torch.tensor([report.log_snr - h, report.log_snr, report.log_snr + h],
                       dtype=torch.float64)
    pi = proc.mixing(lam)[:, report.token]
    value = pi[1] - (pi[2] - pi[0]) / (2 * h)
    assert value < 0
    assert value.item() == pytest.approx(report.value, rel=1e-6)
    # the same from the formulas: π = s/N, ∂π = 2s(1 − s)/N with s = σ(2λ)
    s = 1 / (1 + math.exp(-2 * LO))
    assert report.value == pytest.approx((s - 2 * s * (1 - s)) / (V - 1), rel=1e-12)
    assert report.weight == pytest.approx(1 - 2 * (1 - s), rel=1e-12)


# -- a third-party process, built through NoiseConfig.build --------------------------------
class Concentrating(NoiseProcess):
    """π_λ = r·δ_0 + (1 − r)·δ_mask with r = σ(3λ): token 0's share grows like e^{3λ} at
    low λ, faster than e^λ allows (∂ log π(0) = 3σ(−3λ) > 1 for λ < log(2)/3)."""

    def mixing(self, log_snr):
        r = torch.sigmoid(3 * log_snr)[..., None]
        one = torch.eye(self.vocab_size, dtype=log_snr.dtype)
        return r * one[0] + (1 - r) * one[self.mask_id]


@attrs.frozen(kw_only=True)
class ConcentratingConfig(NoiseConfig):
    def make_process(self, vocab_size, mask_id, **options):
        return Concentrating(vocab_size, mask_id, **options)


@attrs.frozen(kw_only=True)
class TrustedConcentratingConfig(ConcentratingConfig):
    def proves_admissible(self) -> bool:  # a (false) claim: build skips the check
        return True


@attrs.frozen(kw_only=True)
class TiltedConfig(NoiseConfig):
    def make_process(self, vocab_size, mask_id, **options):
        return TiltedMix(vocab_size, mask_id, **options)


def test_third_party_process_refused_by_the_generic_check():
    with pytest.raises(UserError) as info:
        ConcentratingConfig().build(vocab_size=V, mask_id=MASK)
    text = str(info.value)
    assert "ConcentratingConfig" in text and "token 0" in text and "λ = -9" in text
    assert "grow no faster than e^λ" in text and "§2.7" in text
    # grid step 18/32: 0 fails (log(2)/3 = 0.231 is the true edge), the next point 0.5625 passes
    assert "λ in [-9, 0]" in text and "raise log_snr_min to at least 0.5625" in text
    report = admissible.check(Concentrating(V, MASK), raise_error=False)
    assert report.weight == pytest.approx(1 - 3 / (1 + math.exp(3 * LO)), rel=1e-12)
    h = 1e-4  # finite differences agree on the sign and size
    lam = torch.tensor([LO - h, LO, LO + h], dtype=torch.float64)
    pi = Concentrating(V, MASK).mixing(lam)[:, 0]
    assert (pi[1] - (pi[2] - pi[0]) / (2 * h)).item() == pytest.approx(report.value, rel=1e-6)
    # above the failing range it is admissible
    assert ConcentratingConfig(log_snr_min=0.3).build(vocab_size=V, mask_id=MASK)
    # a config that proves its region itself skips the check (so it had better be right)
    assert isinstance(TrustedConcentratingConfig().build(vocab_size=V, mask_id=MASK), Concentrating)
    assert isinstance(TiltedConfig().build(vocab_size=V, mask_id=MASK), TiltedMix)


class _Broken(NoiseProcess):
    def __init__(self, *args, bug, **kw):
        super().__init__(*args, **kw)
        self.bug = bug

    def mixing(self, log_snr):
        pi = torch.full((*log_snr.shape, self.vocab_size), 1.0 / self.vocab_size,
                        dtype=log_snr.dtype) * torch.ones_like(log_snr)[..., None]
        if self.bug == "nan":
            return pi * torch.where(log_snr > 0, torch.nan, 1.0)[..., None]
        if self.bug == "unnormalised":
            return pi * 0.5
        return pi - 2.0 / self.vocab_size * torch.eye(self.vocab_size, dtype=log_snr.dtype)[0]


@pytest.mark.parametrize("bug, words", [("nan", "not finite"), ("unnormalised", "sums to 0.5"),
                                        ("negative", "< 0 at λ")])
def test_check_refuses_a_mixing_that_is_not_a_distribution(bug, words):
    with pytest.raises(UserError, match=words):
        admissible.check(_Broken(V, MASK, bug=bug))


def test_builtin_kinds_skip_the_numerical_check(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the numerical check ran")

    monkeypatch.setattr(admissible, "check", refuse)
    for kind, kw in (("masked", {}), ("uniform", {}), ("hybrid", {"shift": 1.0}), ("gidd", {})):
        noise.build(kind, V, MASK, **kw)


def test_check_at_full_vocabulary():
    """V = 131072: the class path and the dense path agree; both are quick (loose bounds:
    the target is ~5 ms and ~0.15 s of CPU on an idle core, measured in the report)."""
    big = 131072
    t0 = time.process_time()
    fast = admissible.check(HybridProcess(big, 3, shift=17.0, scale=2.0), raise_error=False)
    t1 = time.process_time()
    dense = admissible.check(Dense(big, 3, shift=17.0, scale=2.0), grid=65, raise_error=False)
    t2 = time.process_time()
    assert not fast.ok and not dense.ok
    assert fast.log_snr == dense.log_snr == LO and fast.token == dense.token == 0
    assert fast.weight == pytest.approx(dense.weight, rel=1e-12)
    assert t1 - t0 < 0.5 and t2 - t1 < 5.0


# -- why it matters: the NELBO is a bound only for admissible processes --------------------
CLEAN = [v for v in range(V) if v != MASK]
ENTROPY = -(P_DATA[P_DATA > 0] * P_DATA[P_DATA > 0].log()).sum().item()
LOG_P = torch.log(P_DATA.clamp_min(1e-300))


def exact(z, lam):
    """x̂ = p: for iid tokens the exact reverse process in this parameterisation (§1.5)."""
    return LOG_P.expand(*z.shape, V)


def wrong_below_zero(on_mask):
    """Exact, except at λ < 0 on non-mask z (or on the mask): x̂ uniform over real tokens."""
    def model(z, lam):
        bad = (lam < 0) & ((z == MASK) if on_mask else (z != MASK))
        return torch.where(bad[..., None], torch.zeros(V, dtype=torch.float64), LOG_P)
    return model


def _integral(proc, model, lo, hi, pieces):
    lam, wq = gauss_legendre(lo, hi, pieces)
    L = lam.shape[0]
    x = torch.tensor(CLEAN)[None, :, None].expand(L, V - 1, V)
    z = torch.arange(V)[None, None, :].expand(L, V - 1, V)
    lam3 = lam[:, None, None].expand(L, V - 1, V)
    q = proc.marginal(x[..., 0], lam[:, None])
    f = torch.where(q > 0, proc.nelbo_integrand(model(z, lam3), z, x, lam3), 0)
    return ((P_DATA[CLEAN][None, :, None] * q * f).sum((1, 2)) * wq).sum().item()


def full_nelbo(proc, model, pieces=30):
    """E_x of the whole bound: prior KL at λ_min + ∫ w(KL+IS) dλ + reconstruction at λ_max.

    Prior: the data marginal q_{λ_min}(·|p), a model-free distribution.  Reconstruction:
    the sampler's final step λ_max → ∞, p(x|z) ∝ x̂(x)·q_{λ_max}(z|x).  Enumerated over x
    and z; the integral by Gauss-Legendre with a node edge at λ = 0, where the wrong
    denoisers jump.  For a valid process this is ≥ H(p) for every denoiser, = H(p) for the
    exact one.
    """
    lo, hi = proc.log_snr_min, proc.log_snr_max
    xs = torch.tensor(CLEAN)
    q_lo = proc.marginal(xs, torch.tensor(lo, dtype=torch.float64))
    q_p = (P_DATA[CLEAN][:, None] * q_lo).sum(0)
    prior = (P_DATA[CLEAN] * torch.where(q_lo > 0, q_lo * (q_lo.log() - q_p.log()), 0).sum(1)).sum()
    lam_hi = torch.tensor(hi, dtype=torch.float64)
    z = torch.arange(V)
    x_hat = proc.denoised_log_probs(model(z, lam_hi.expand(V))).exp()  # [z, x]
    joint = x_hat * proc.marginal(torch.arange(V), lam_hi).T  # x̂(x)·q(z|x), [z, x]
    post = joint / joint.sum(1, keepdim=True)
    q_hi = proc.marginal(xs, lam_hi)  # [x, z]
    recon = -(P_DATA[CLEAN][:, None] * q_hi * post.T[xs].log()).sum()
    middle = _integral(proc, model, lo, 0.0, pieces) + _integral(proc, model, 0.0, hi, pieces)
    return prior.item() + middle + recon.item()


# Tolerance: the integrand is smooth (analytic) on each side of λ = 0, and 30 order-10
# Gauss-Legendre pieces of width 0.3 per side put the quadrature error below 1e-12 (half as
# many pieces agree to 1e-10 below; measured, they agree to 1e-15); the rest is float64
# rounding over ~10^4 terms, ~1e-13.  So 1e-8 bounds |computed − exact| with room to spare,
# and the effects asserted below (≥ 4e-4 in size) are far outside it.
QUAD_TOL = 1e-8


@pytest.mark.parametrize("shift, scale", [(0.0, 1.0), (-2.0, 1.0), (18.5, 2.0), (-18.5, -2.0)])
def test_admissible_nelbo_is_a_bound(shift, scale):
    proc = HybridNoiseConfig(shift=shift, scale=scale).build(vocab_size=V, mask_id=MASK)
    coarse = full_nelbo(proc, exact, pieces=15)
    fine = full_nelbo(proc, exact)
    assert abs(fine - coarse) < 1e-10
    assert fine == pytest.approx(ENTROPY, abs=QUAD_TOL)  # the exact denoiser is tight
    wrong = [full_nelbo(proc, wrong_below_zero(on_mask)) for on_mask in (False, True)]
    assert min(wrong) > ENTROPY - QUAD_TOL  # a bound for every denoiser...
    assert max(wrong) > ENTROPY + 4e-4  # ...and being wrong costs (a mask-free region: ~0)


@pytest.mark.parametrize("scale, on_mask", [(2.0, False), (-2.0, True)])
def test_inadmissible_nelbo_goes_below_the_entropy(scale, on_mask):
    """scale = ±2, shift = 0 (refused by the config; built here directly): w < 0 for λ < 0
    on non-mask tokens (scale 2) or on the mask (scale −2), so a denoiser wrong there only
    scores *better* than the exact one, below H(p): the "NELBO" is not a bound."""
    with pytest.raises(FieldError):
        HybridNoiseConfig(scale=scale)
    proc = HybridProcess(V, MASK, shift=0.0, scale=scale)
    assert full_nelbo(proc, exact) == pytest.approx(ENTROPY, abs=QUAD_TOL)
    assert full_nelbo(proc, wrong_below_zero(on_mask)) < ENTROPY - 1e-3
