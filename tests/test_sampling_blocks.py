"""Block-wise generation over a KV cache: exact where docs say, faster, longer than training.

A random float64 transformer stands in for a trained one: exactness of the cache is
a property of the computation, not of the weights.  The reference is the
recomputing path (``kv_cache = false``): a full pass over [context, block] with the
prompt-prefix mask at every step.
"""

from __future__ import annotations

import pytest
import torch

import difflaws.noise as noise
from difflaws.interfaces import interface_for
from difflaws.plugins import PluginHost
from difflaws.sampling import AdaptiveSampler, AncestralSampler, CountedDenoiser, ReverseOptions
from difflaws.sampling.blocks import Context

HOST = PluginHost(entry_points=False)
V, MASK = 24, 23


def transformer(seed=0, **table):
    cfg = HOST.converter.structure({"kind": "transformer", "shape": "L2-D32-H2", **table},
                                   interface_for("backbone"))
    param = HOST.converter.structure({"kind": "standard"}, interface_for("parameterization")).build()
    model = cfg.build(vocab_size=V, seq_len=16, parameterization=param)
    model.init_weights(torch.Generator().manual_seed(seed))
    return model.double().eval()


def draw(model, block_length, kv_cache, prompt=None, seq_len=12, sampler=AncestralSampler,
         seed=3, **options):
    opts = ReverseOptions(block_length=block_length, kv_cache=kv_cache, **options)
    denoiser = CountedDenoiser(model, reads_log_snr=False)
    out = sampler(options=opts).sample(denoiser, noise.build("masked", V, MASK), 3, seq_len,
                                       steps=6, prompt=prompt,
                                       generator=torch.Generator().manual_seed(seed))
    return out, denoiser.calls


def prompt(length=3):
    return torch.tensor([[1, 2, 3, 4, 5][:length]] * 3)


@pytest.mark.parametrize("case", ["two blocks, no prompt", "prompt and one block"])
def test_cached_blocks_give_the_recomputed_tokens_where_exact(case):
    model = transformer()
    if case == "two blocks, no prompt":  # block 2's context is block 1, fed as one chunk
        kw = {"block_length": 6}
    else:  # the one block's context is the prompt, fed as one chunk
        kw = {"block_length": 9, "prompt": prompt()}
    cached, cached_calls = draw(model, kv_cache=True, **kw)
    recomputed, _ = draw(model, kv_cache=False, **kw)
    assert torch.equal(cached, recomputed)
    assert (cached != MASK).all()
    if "prompt" in kw:
        assert torch.equal(cached[:, :3], kw["prompt"])
    # every step, one feed per context chunk but the last block (skips aside)
    assert cached_calls <= 2 * 7 + 1


def _query(model, chunks, z, use_cache):
    lam = torch.full(z.shape, 0.5)
    context = Context(model, noise.build("masked", V, MASK), z.shape[0], 20, use_cache=use_cache)
    for chunk in chunks:
        context.append(chunk)
    with torch.no_grad():
        return context.query(z, lam)


def test_the_cache_approximates_once_the_context_has_two_chunks():
    """docs: a cached chunk's keys never see the chunks after it, unlike a full pass."""
    model = transformer(seed=1)
    gen = torch.Generator().manual_seed(0)
    a, b, z = (torch.randint(0, V - 1, (2, 4), generator=gen) for _ in range(3))
    one = [torch.cat([a, b], 1)]
    assert torch.allclose(_query(model, one, z, True), _query(model, one, z, False),
                          atol=1e-10, rtol=0)
    two = [a, b]
    diff = (_query(model, two, z, True) - _query(model, two, z, False)).abs().max()
    assert diff > 1e-6
    # and the recomputed path does not care how the context arrived
    assert torch.allclose(_query(model, two, z, False), _query(model, one, z, False),
                          atol=1e-12, rtol=0)


def test_blocks_without_a_cache_capable_denoiser_recompute_the_prefix():
    model = transformer(seed=2)
    seen = []

    def plain(tokens, log_snr, prefix_len=None):  # no new_cache: the fallback
        seen.append((tokens.shape[1], None if prefix_len is None else int(prefix_len[0])))
        return model(tokens, log_snr, prefix_len=prefix_len)

    opts = ReverseOptions(block_length=4)
    out = AncestralSampler(opts).sample(plain, noise.build("masked", V, MASK), 2, 10, steps=2,
                                        prompt=torch.tensor([[1, 2]] * 2),
                                        generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 10) and (out != MASK).all()
    # 3 steps per block over [context, block], the clean context marked as the prefix
    assert seen == [(6, 2)] * 3 + [(10, 6)] * 3


def test_generation_runs_past_the_training_context_with_the_cache():
    model = transformer(seed=3)
    out, calls = draw(model, block_length=8, kv_cache=True, seq_len=40, sampler=AdaptiveSampler)
    assert out.shape == (3, 40) and (out != MASK).all()
    assert calls <= 5 * 7 + 4  # 5 blocks of 7 calls, 4 feeds


def test_a_prompt_that_fills_the_sequence_costs_no_pass():
    out, calls = draw(transformer(), block_length=4, kv_cache=True, prompt=prompt(5), seq_len=5)
    assert torch.equal(out, prompt(5)) and calls == 0
