"""The samplers against an exact denoiser: they reproduce a known joint distribution.

``sampling_helpers.ExactDenoiser`` is the prediction under which each reverse step
is the true one position by position (derived in its docstring), so the only
error left is the independence of positions within a step: O(1/steps), and none
at all when a block holds one position.  Every check is a chi-square test of the
sampled sequences against the data's 27 sequence probabilities at level 1e-3, and
a sampler that gets the joint wrong (one step: independent positions) fails it.
"""

from __future__ import annotations

import pytest
import torch

import difflaws.noise as noise
from difflaws.errors import UserError
from difflaws.sampling import AncestralSampler, RemaskingSampler, ReverseOptions
from sampling_helpers import LENGTH, MASK, V, chi2_pvalue, exact

LEVEL = 1e-3


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tensors of a few hundred numbers: threads only add overhead on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def draw(sampler, kind="masked", n=2000, steps=32, runs=1, seed=0, **kw):
    process, denoiser, probs = exact(kind, **kw)
    gen = torch.Generator().manual_seed(seed)
    out = torch.cat([sampler.sample(denoiser, process, n // runs, LENGTH, steps, generator=gen)
                     for _ in range(runs)])
    return out, probs, denoiser.calls


def test_one_step_samples_positions_independently_and_fails_the_check():
    out, probs, _ = draw(AncestralSampler(), steps=1)
    assert chi2_pvalue(out, probs) < LEVEL  # the test has teeth


def test_ancestral_reproduces_the_joint_under_masked_noise_with_step_skipping():
    # batches of 32 rows: the early steps often unmask nothing in the whole batch
    steps, runs = 48, 48
    out, probs, calls = draw(AncestralSampler(), n=1536, steps=steps, runs=runs)
    assert calls < 0.95 * runs * (steps + 1)
    assert chi2_pvalue(out, probs) > LEVEL


@pytest.mark.parametrize("kind, kw, block, steps", [
    ("hybrid", {"shift": 0.0}, 0, 48),
    ("uniform", {}, 1, 6),  # one position per block: exact at any number of steps
    ("masked", {}, 1, 4),
    ("masked", {}, 2, 32),
])
def test_whole_and_block_sampling_reproduce_the_joint(kind, kw, block, steps):
    sampler = AncestralSampler(ReverseOptions(block_length=block))
    out, probs, _ = draw(sampler, kind, steps=steps, **kw)
    assert chi2_pvalue(out, probs) > LEVEL


def test_skipping_gives_the_same_tokens_for_the_same_seed():
    outs, calls = [], []
    for skip in (True, False):
        sampler = AncestralSampler(ReverseOptions(skip_unchanged=skip, block_length=2))
        out, _, n_calls = draw(sampler, n=4, steps=64, runs=2, seed=5)
        outs.append(out)
        calls.append(n_calls)
    assert torch.equal(outs[0], outs[1])
    assert calls[1] == 2 * 2 * 65 and calls[0] < calls[1] / 2


def test_a_denoiser_that_reads_the_noise_level_is_never_skipped():
    process, denoiser, _ = exact("masked")
    denoiser.reads_log_snr = True
    AncestralSampler().sample(denoiser, process, 2, LENGTH, 64,
                              generator=torch.Generator().manual_seed(0))
    assert denoiser.calls == 65


@pytest.mark.parametrize("remask, eta, block, steps", [
    ("cap", 0.1, 1, 8),  # one position per block: exact at any steps and η
    ("rescale", 0.1, 0, 48),
])
def test_remdm_reproduces_the_joint_at_moderate_remasking(remask, eta, block, steps):
    sampler = RemaskingSampler(remask, eta, ReverseOptions(block_length=block))
    out, probs, _ = draw(sampler, steps=steps)
    assert chi2_pvalue(out, probs) > LEVEL


def test_remdm_remasks_written_tokens():
    process, denoiser, _ = exact("masked")
    seen = []

    def spy(z, lam):
        seen.append(z.clone())
        return denoiser(z, lam)

    RemaskingSampler("rescale", 0.5).sample(spy, process, 50, LENGTH, 16,
                                            generator=torch.Generator().manual_seed(1))
    remasked = sum(int(((a != MASK) & (b == MASK)).sum()) for a, b in zip(seen, seen[1:]))
    assert remasked > 0
    seen.clear()
    RemaskingSampler("cap", 0.0).sample(spy, process, 50, LENGTH, 16,
                                        generator=torch.Generator().manual_seed(1))
    assert sum(int(((a != MASK) & (b == MASK)).sum()) for a, b in zip(seen, seen[1:])) == 0


@pytest.mark.parametrize("kind, kw", [("uniform", {}), ("hybrid", {"shift": 0.0}),
                                      ("gidd", {"p_u": 0.1})])
def test_remdm_refuses_noise_that_is_not_masked(kind, kw):
    process, denoiser, _ = exact(kind, **kw)
    with pytest.raises(UserError, match="remdm.*not masked"):
        RemaskingSampler().sample(denoiser, process, 2, LENGTH, 4)


def test_remdm_accepts_every_spelling_of_masked_noise():
    for process in (noise.build("masked", V, MASK), noise.build("hybrid", V, MASK, shift=-float("inf"))):
        _, denoiser, _ = exact("masked")
        out = RemaskingSampler().sample(denoiser, process, 2, LENGTH, 4,
                                        generator=torch.Generator().manual_seed(0))
        assert (out != MASK).all()
