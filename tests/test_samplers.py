"""Samplers: exact on iid data with the exact denoiser, prompts honoured, revision and correction."""

from __future__ import annotations

import pytest
import scipy.stats
import torch

import difflaws.noise as noise
from difflaws.noise import categorical
from difflaws.plugins import PluginHost
from difflaws.sampling import AdaptiveSampler, AncestralSampler, SelfCorrectionSampler
from noise_helpers import MASK, P_DATA, V, make


def iid_denoiser(z, lam):
    """For iid tokens, x̂ = p makes every model marginal q_λ(·|x̂) the true one, so the
    ancestral chain is the exact time reversal and its samples are iid p."""
    return torch.log(P_DATA.clamp_min(1e-300)).expand(*z.shape, V)


@pytest.mark.parametrize("kind, kw", [
    ("masked", {}), ("uniform", {}), ("hybrid", {"shift": 0.0}), ("gidd", {"p_u": 0.2}), ("tilted", {}),
])
def test_ancestral_is_exact_on_iid_data(kind, kw):
    proc = make(kind, kw)
    gen = torch.Generator().manual_seed(11)
    z = AncestralSampler().sample(iid_denoiser, proc, 2000, 4, steps=6, generator=gen)
    counts = torch.bincount(z.flatten(), minlength=V).double()
    assert counts[MASK] == 0
    live = P_DATA > 0
    expected = P_DATA[live] * z.numel()
    chi2 = ((counts[live] - expected) ** 2 / expected).sum().item()
    assert chi2 < scipy.stats.chi2.isf(1e-4, int(live.sum()) - 1)


@pytest.mark.parametrize("sampler", [AncestralSampler(), AdaptiveSampler(), SelfCorrectionSampler(4.6, max_iterations=5)])
def test_prompt_is_kept_and_no_mask_is_left(sampler):
    proc = noise.build("hybrid", V, MASK, shift=-1.0)
    prompt = torch.tensor([[1, 2], [7, 7], [0, 4]])
    seen = []

    def denoiser(z, lam):
        seen.append(lam[:, :2].clone())
        return iid_denoiser(z, lam)

    out = sampler.sample(denoiser, proc, 3, 6, steps=4, prompt=prompt, generator=torch.Generator().manual_seed(1))
    assert out.shape == (3, 6) and out.dtype == torch.long
    assert torch.equal(out[:, :2], prompt)
    assert (out != MASK).all()
    assert all((lam == proc.log_snr_max).all() for lam in seen)  # prompt tokens are seen as clean


def test_adaptive_unmasks_by_confidence_under_masked_noise():
    target = torch.tensor([5, 1, 6, 0, 2])
    confidence = torch.tensor([1.0, 5.0, 2.0, 4.0, 3.0])
    order = []

    def denoiser(z, lam):
        order.append(z.clone())
        logits = torch.zeros(*z.shape, V)
        logits[0, torch.arange(5), target] = confidence
        return logits

    proc = noise.build("masked", V, MASK)
    out = AdaptiveSampler().sample(denoiser, proc, 1, 5, steps=5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out[0], target)
    # one position per step, most confident first
    written = [int((a != b).nonzero()[0, 1]) for a, b in zip(order[:-1], order[1:])]
    assert written == [1, 3, 4, 2, 0]


def test_adaptive_revises_tokens_under_uniform_noise():
    target = torch.tensor([[5, 1, 6, 0, 2, 4]])
    proc = noise.build("uniform", V, MASK)
    start = proc.prior((1, 6), torch.Generator().manual_seed(3))
    assert not torch.equal(start, target)  # the prior has no masks: only revisions can fix it

    def denoiser(z, lam):
        return 4.0 * torch.nn.functional.one_hot(target, V).double().expand(z.shape[0], 6, V)

    out = AdaptiveSampler(tokens_per_step=2).sample(denoiser, proc, 1, 6, steps=6,
                                                    generator=torch.Generator().manual_seed(3))
    assert torch.equal(out, target)


def test_self_correction_moves_to_the_argmax_one_token_at_a_time():
    target = torch.tensor([[5, 1, 6, 0, 2, 4]])
    proc = noise.build("uniform", V, MASK)

    def denoiser(z, lam):
        return 3.0 * torch.nn.functional.one_hot(target, V).double()

    z0 = torch.tensor([[5, 2, 2, 2, 2, 2]])
    sc = SelfCorrectionSampler(4.6, correction_temperature=0.1, positions_per_iteration=1,
                               max_iterations=3)
    after3 = sc.correct(denoiser, proc, z0, generator=torch.Generator().manual_seed(0))
    assert int((after3 != z0).sum()) == 3 and int((after3 == target).sum()) == 5  # 2 already right
    full = SelfCorrectionSampler(4.6).correct(denoiser, proc, z0, prompt=torch.tensor([[5]]),
                                              generator=torch.Generator().manual_seed(0))
    assert torch.equal(full, target)


def test_float64_draws_match_probabilities():
    probs = torch.tensor([1e-4, 0.2, 0.3, 0.4999], dtype=torch.float64).expand(400_000, 4)
    counts = torch.bincount(categorical.draw(probs, torch.Generator().manual_seed(5)), minlength=4).double()
    expected = probs[0] * 400_000
    chi2 = ((counts - expected) ** 2 / expected).sum().item()
    assert chi2 < scipy.stats.chi2.isf(1e-4, 3)


def test_sampler_kinds_are_registered():
    reg = PluginHost(entry_points=False).registry
    assert {"ancestral", "adaptive", "self-correction", "remdm"} <= set(reg.names("sampler"))
    assert {"masked", "uniform", "hybrid", "gidd"} <= set(reg.names("noise"))
    assert {"linear", "cosine", "loglinear"} <= set(reg.names("schedule"))


def test_next_token_sampler_refuses_a_prompt_longer_than_the_sequence():
    from types import SimpleNamespace

    from difflaws.errors import UserError
    from difflaws.sampling import NextTokenSampler
    from difflaws.sampling.truncation import Truncation

    objective = SimpleNamespace(mask_id=MASK, eos_id=4)  # the row runs 4, 5, 6, 7 past the mask
    sampler = NextTokenSampler(Truncation(temperature=0.0))
    fed = []

    def causal(tokens, log_snr):
        fed.append(tokens.shape[1])
        return torch.nn.functional.one_hot((tokens + 1) % V, V).double()  # next = previous + 1

    with pytest.raises(UserError, match="prompt of 4 tokens does not fit seq_len 3"):
        sampler.sample(causal, objective, 1, 3, prompt=torch.tensor([[1, 2, 3, 4]]))
    # an empty prompt is no prompt: the row follows an EOS, which is not returned
    out = sampler.sample(causal, objective, 2, 3, prompt=torch.zeros(2, 0, dtype=torch.long))
    assert out.tolist() == [[5, 6, 7]] * 2 and fed == [1, 2, 3]
