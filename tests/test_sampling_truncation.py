"""Every diffusion sampler draws from the truncated prediction, and a greedy last step is greedy.

A constant denoiser makes the answer known: under masked noise each position is
written from x̂ (and, for remdm, rewritten from it), and under uniform noise a
constant x̂ is the exact prediction for iid data, so the tokens a sampler returns
follow the truncated x̂.  The expected distribution comes from a per-row
implementation written here from the definitions, not from ``Truncation``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import torch

import difflaws.noise as noise
from difflaws.interfaces import interface_for
from difflaws.plugins import PluginHost
from difflaws.sampling.reverse import ReverseSampler
from difflaws.sampling.truncation import Truncation

HOST = PluginHost(entry_points=False)
V, MASK = 8, 3
LOGITS = torch.tensor([1.2, 0.4, 2.0, 5.0, 0.9, -0.3, 1.6, 0.0])  # the mask's 5.0 must be ignored

SAMPLERS = [("ancestral", "masked", {}), ("ancestral", "uniform", {}),
            ("adaptive", "masked", {"temperature": 1.0}),
            ("self-correction", "masked", {"max_iterations": 0}),
            ("remdm", "masked", {"eta": 0.05})]
TRUNCATIONS = [{"temperature": 0.6}, {"top_k": 3}, {"top_p": 0.7}, {"min_p": 0.4},
               {"temperature": 1.5, "top_k": 5, "top_p": 0.9, "min_p": 0.1}]


def by_hand(temperature=1.0, top_k=0, top_p=1.0, min_p=0.0) -> np.ndarray:
    """Temperature, then the cuts, each read off the tempered distribution; ties don't occur."""
    logits = LOGITS.double().numpy().copy()
    logits[MASK] = -np.inf
    p = np.exp((logits - logits.max()) / temperature)
    p /= p.sum()
    order = np.argsort(-p)
    keep = p > 0
    if top_k:
        keep[order[top_k:]] = False
    if top_p < 1.0:
        mass_before = np.cumsum(p[order]) - p[order]
        keep[order[mass_before >= top_p]] = False
    keep &= p >= min_p * p.max()
    out = np.where(keep, p, 0.0)
    return out / out.sum()


def sampler(kind, **table):
    return HOST.converter.structure({"kind": kind, **table}, interface_for("sampler")).build()


def constant(tokens, log_snr, **_):
    return LOGITS.expand(*tokens.shape, V)


def test_the_hand_implementation_agrees_with_truncation():
    for cut in TRUNCATIONS:
        ref = Truncation(**cut).probabilities(LOGITS, banned=(MASK,)).numpy()
        assert np.allclose(ref, by_hand(**cut), atol=1e-12)
    top2 = math.exp(2.0) / (math.exp(2.0) + math.exp(1.6))  # tokens 2 and 6; the mask is out
    assert np.allclose(by_hand(top_k=2), [0, 0, top2, 0, 0, 0, 1 - top2, 0])


@pytest.mark.parametrize("cut", TRUNCATIONS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
@pytest.mark.parametrize("kind, noise_kind, table", SAMPLERS, ids=lambda x: x if isinstance(x, str) else "")
def test_samplers_draw_from_the_truncated_prediction(kind, noise_kind, table, cut):
    process = noise.build(noise_kind, V, MASK)
    out = sampler(kind, **{**table, **cut}).sample(constant, process, 300, 10, steps=6,
                                              generator=torch.Generator().manual_seed(7))
    counts = np.bincount(out.flatten().numpy(), minlength=V)
    expected = by_hand(**cut) * out.numel()
    assert counts[expected == 0].sum() == 0  # nothing outside the kept set, the mask included
    live = expected > 0
    if live.sum() > 1:
        stat = ((counts[live] - expected[live]) ** 2 / expected[live]).sum()
        assert scipy.stats.chi2.sf(stat, live.sum() - 1) > 1e-3


def test_self_correction_candidates_come_from_the_truncated_prediction():
    process = noise.build("uniform", V, MASK)
    out = sampler("self-correction", top_k=2, max_iterations=20).sample(
        constant, process, 20, 10, steps=4, generator=torch.Generator().manual_seed(0))
    assert set(out.unique().tolist()) <= {2, 6}


@pytest.mark.parametrize("kind, table", [("ancestral", {}), ("remdm", {"eta": 0.05}),
                                         ("adaptive", {"temperature": 1.0, "tokens_per_step": 1}),
                                         ("self-correction", {"max_iterations": 0})])
def test_a_greedy_final_step_takes_the_argmax(kind, table):
    # λ_max = −4: about 98 % of the tokens are still masked before the last step (adaptive:
    # one of ten is written before it)
    process = noise.build("masked", V, MASK, log_snr_max=-4.0)
    shares = []
    for greedy in (False, True):
        out = sampler(kind, greedy_final=greedy, **table).sample(
            constant, process, 50, 10, steps=1, generator=torch.Generator().manual_seed(2))
        shares.append(float((out == 2).double().mean()))  # token 2: the argmax, x̂(2) = 0.35
    assert shares[0] < 0.5 < 0.85 < shares[1]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
@pytest.mark.parametrize("cut", [{}, {"top_p": 0.8}])
def test_predictions_are_formed_in_float64(dtype, cut):
    process = noise.build("masked", V, MASK)
    reverse = sampler("ancestral", **cut)
    assert isinstance(reverse, ReverseSampler)
    log_xhat = reverse.log_xhat(LOGITS.to(dtype).expand(2, 3, V), process)
    assert log_xhat.dtype == torch.float64 and bool((log_xhat[..., MASK] == -math.inf).all())
    seen = []
    step = process.reverse_step
    process.reverse_step = lambda logits, *a, **k: (seen.append(logits.dtype), step(logits, *a, **k))[1]
    reverse.sample(lambda z, lam: LOGITS.to(dtype).expand(*z.shape, V), process, 2, 3, steps=2)
    assert seen == [torch.float64] * 3
