"""The autoregressive baseline: a causal transformer, exact next-token NLL, KV-cached decoding.

Each property is checked against an independent computation: causality by perturbing
later tokens, the mask against its definition, the cache against full passes, the NLL
against a sum of log-probabilities from prefix-only forwards, and the truncations
against a plain per-row implementation.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from difflaws.interfaces import interface_for
from difflaws.model.masks import AttentionMask
from difflaws.objectives.next_token import NextTokenObjective
from difflaws.plugins import PluginHost
from difflaws.sampling.next_token import NextTokenSampler
from difflaws.sampling.truncation import Truncation

HOST = PluginHost(entry_points=False)
V = 40
MASK, EOS = V - 1, V - 2


def causal_model(seed=0, attention="sdpa", device="cpu", **table):
    table = {"shape": "L2-D64-H4", "attention": attention, **table}
    cfg = HOST.converter.structure({"kind": "transformer", **table}, interface_for("backbone"))
    param = HOST.converter.structure({"kind": "standard"}, interface_for("parameterization")).build()
    model = cfg.build(vocab_size=V, seq_len=64, parameterization=param, device=device, causal=True)
    model.init_weights(torch.Generator().manual_seed(seed))
    return model.eval()


def tokens(batch=2, seq=16, seed=1, high=V - 2):
    return torch.randint(0, high, (batch, seq), generator=torch.Generator().manual_seed(seed))


VARIANTS = [{"attn_softcap": 0.0, "attention_sink": False},  # the fused is_causal path
            {"attn_softcap": 0.0}, {"attn_softcap": 30.0}, {"attention_sink": False}]


# -- causality ------------------------------------------------------------------------------
def check_causal(model, x, doc_ids=None):
    for cut in (1, x.shape[1] // 2, x.shape[1] - 1):
        y = x.clone()
        y[:, cut:] = (y[:, cut:] + 7) % (V - 2)
        with torch.no_grad():
            a, b = model(x, doc_ids=doc_ids), model(y, doc_ids=doc_ids)
        assert torch.allclose(a[:, :cut], b[:, :cut], atol=1e-6, rtol=0), cut
        assert (a[:, cut:] - b[:, cut:]).abs().max() > 1e-4  # the test can fail


@pytest.mark.parametrize("table", VARIANTS)
def test_perturbing_later_tokens_leaves_earlier_outputs_unchanged(table):
    check_causal(causal_model(**table), tokens())


def test_causal_within_packed_documents():
    model = causal_model()
    x = tokens(batch=1, seq=16)
    doc_ids = torch.tensor([[0] * 6 + [1] * 10])
    check_causal(model, x, doc_ids)
    with torch.no_grad():  # and the second document does not see the first
        packed = model(x, doc_ids=doc_ids)
        alone = model(x[:, 6:])
    assert torch.allclose(packed[:, 6:], alone, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="xformers needs CUDA")
@pytest.mark.parametrize("sink", [False, True])
def test_xformers_kernel_is_causal_and_matches_sdpa(sink):
    from difflaws.builtins.attention import xformers_importable

    if not xformers_importable():
        pytest.skip("xformers is not installed")
    table = {"attn_softcap": 0.0, "attention_sink": sink}
    fast = causal_model(attention="xformers", device="cuda", **table)
    ref = causal_model(attention="sdpa", device="cuda", **table)
    x = tokens(batch=2, seq=32).cuda()
    doc_ids = torch.tensor([[0] * 10 + [1] * 22, [0] * 32]).cuda()
    check_causal(fast, x, doc_ids)
    with torch.no_grad():
        assert torch.allclose(fast(x, doc_ids=doc_ids), ref(x, doc_ids=doc_ids), atol=2e-4)


def test_dense_mask_is_its_definition():
    """Entry (b, q, k) is allowed iff same document and key position ≤ query position,
    counting cached keys (offset) as earlier context every query may see."""
    doc_ids = torch.tensor([[0, 0, 1, 1, 1], [0, 1, 1, 2, 2]])
    for offset in (0, 3):
        dense = AttentionMask(5, doc_ids, causal=True, offset=offset).dense("cpu")[:, 0]
        for b in range(2):
            for q in range(5):
                for k in range(offset + 5):
                    same_doc = k < offset or doc_ids[b, q] == doc_ids[b, k - offset]
                    assert bool(dense[b, q, k]) == bool(same_doc and k <= q + offset)
    assert AttentionMask(1, causal=True, offset=4).is_full  # one query sees all it may
    assert AttentionMask(5, causal=True).is_plain_causal


# -- the NLL ----------------------------------------------------------------------------------
def prefix_nll(model, x):
    """Mean −log p(x_{t+1} | x_0..x_t), each term from a forward over the prefix alone:
    no causal mask is needed to be right, so this checks the mask too."""
    total, count = 0.0, 0
    with torch.no_grad():
        for t in range(x.shape[1] - 1):
            logp = torch.log_softmax(model(x[:, : t + 1])[:, -1].double(), -1)
            total -= float(logp.gather(-1, x[:, t + 1, None]).sum())
            count += x.shape[0]
    return total / count


def test_loss_is_the_exact_next_token_nll():
    model, x = causal_model(seed=2), tokens(batch=3, seq=12, seed=5)
    objective = NextTokenObjective(MASK, EOS)
    batch = objective.batch(x)
    with torch.no_grad():
        out = objective.loss(model(batch.z), batch, x)
    assert out.n_tokens == 3 * 11 == int(batch.loss_mask.sum())
    assert float(out.nelbo) == pytest.approx(prefix_nll(model, x), abs=1e-5)
    assert float(out.loss) == float(out.nelbo)


def test_evaluate_counts_each_batch_once_for_an_exact_objective():
    from difflaws.data.packing import PackedSequences
    from difflaws.train.evaluate import evaluate
    import contextlib

    model = causal_model(seed=3)
    stream = tokens(batch=1, seq=16 * 6, seed=9).reshape(-1).numpy()
    seqs = PackedSequences(stream, 16, EOS, seed=0, shuffle=False)
    out = evaluate(model, NextTokenObjective(MASK, EOS), seqs, batches=3, batch_size=2,
                   device="cpu", autocast=contextlib.nullcontext, samples=4)
    assert out["n_estimates"] == 3 and out["n_tokens"] == 3 * 2 * 15
    x = torch.as_tensor(stream).reshape(6, 16)
    assert out["nelbo"] == pytest.approx(prefix_nll(model, x), abs=1e-5)


# -- the KV cache ---------------------------------------------------------------------------
@pytest.mark.parametrize("table", VARIANTS)
def test_cached_decoding_gives_the_full_pass_logits(table):
    model, x = causal_model(seed=4, **table), tokens(batch=2, seq=14, seed=3)
    with torch.no_grad():
        full = model(x)
        cache = model.new_cache(14)
        parts = [model(x[:, :5], cache=cache)]  # a prompt fed at once, then one at a time
        parts += [model(x[:, t:t + 1], cache=cache) for t in range(5, 14)]
    assert cache.length == 14
    assert torch.allclose(torch.cat(parts, 1), full, atol=1e-5)


class NoCache(torch.nn.Module):
    """The same model without ``new_cache``: the sampler must fall back to full passes."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, tokens, log_snr=None):
        return self.model(tokens, log_snr)


@pytest.mark.parametrize("prompt", [False, True])
def test_sampling_with_the_cache_draws_what_full_passes_draw(prompt):
    model = causal_model(seed=5)
    sampler = NextTokenSampler(Truncation(temperature=1.0, top_k=20))
    objective = NextTokenObjective(MASK, EOS)
    start = tokens(batch=3, seq=4, seed=8) if prompt else None
    draws = [sampler.sample(m, objective, 3, 20, prompt=start,
                            generator=torch.Generator().manual_seed(11))
             for m in (model, NoCache(model))]
    assert draws[0].shape == (3, 20)
    assert torch.equal(draws[0], draws[1])
    if prompt:
        assert torch.equal(draws[0][:, :4], start)
    assert not (draws[0] == MASK).any()


def test_sampled_tokens_follow_the_model_distribution():
    """At a 1-token context the draws' frequencies match softmax(logits) (chi-square)."""
    from scipy.stats import chisquare

    model = causal_model(seed=6)
    objective = NextTokenObjective(MASK, EOS)
    n = 4000
    draws = NextTokenSampler(Truncation()).sample(model, objective, n, 1,
                                                  generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits = model(torch.tensor([[EOS]]))[0, -1].double()
    logits[MASK] = -math.inf
    p = torch.softmax(logits, -1).numpy()
    counts = np.bincount(draws[:, 0].numpy(), minlength=V)
    assert counts[MASK] == 0
    keep = p * n >= 5  # chi-square needs ≥ 5 expected per cell: pool the rare ones
    rare = ~keep & (p > 0)
    obs, exp = counts[keep], p[keep] * n
    if rare.any():
        obs, exp = np.append(obs, counts[rare].sum()), np.append(exp, p[rare].sum() * n)
    assert chisquare(obs, exp).pvalue > 1e-3  # a correct sampler fails 0.1 % of seeds


# -- truncation -----------------------------------------------------------------------------
def reference_truncation(logits, temperature, top_k, top_p, min_p, banned):
    """One row at a time, by sorting in Python: an independent implementation."""
    out = []
    for row in logits.tolist():
        row = [(-math.inf if i in banned else v) for i, v in enumerate(row)]
        if temperature == 0:
            best = max(range(len(row)), key=lambda i: (row[i], -i))
            out.append([1.0 if i == best else 0.0 for i in range(len(row))])
            continue
        top = max(row)
        w = [math.exp((v - top) / temperature) for v in row]
        z = sum(w)
        p = [x / z for x in w]
        order = sorted(range(len(p)), key=lambda i: -p[i])
        keep = {i for i in range(len(p)) if p[i] > 0}
        if top_k:
            kth = p[order[min(top_k, len(p)) - 1]]
            keep &= {i for i in range(len(p)) if p[i] >= kth}
        if top_p < 1:
            mass, edge = 0.0, 0.0
            for i in order:
                if mass >= top_p:
                    break
                edge = p[i]
                mass += p[i]
            keep &= {i for i in range(len(p)) if p[i] >= edge}
        if min_p > 0:
            keep &= {i for i in range(len(p)) if p[i] >= min_p * max(p)}
        kept = [p[i] if i in keep else 0.0 for i in range(len(p))]
        out.append([x / sum(kept) for x in kept])
    return torch.tensor(out, dtype=torch.float64)


SETTINGS = [(1.0, 0, 1.0, 0.0), (0.7, 5, 1.0, 0.0), (1.0, 0, 0.8, 0.0), (1.3, 0, 1.0, 0.1),
            (0.9, 8, 0.9, 0.05), (0.0, 0, 1.0, 0.0), (1.0, 1, 1.0, 0.0), (1.0, 0, 0.01, 0.0)]


@pytest.mark.parametrize("settings", SETTINGS)
def test_truncation_matches_an_independent_implementation(settings):
    logits = torch.randn(6, 25, generator=torch.Generator().manual_seed(7)) * 2
    logits[2, 3:6] = logits[2].max()  # a tie at the top
    got = Truncation(*settings).probabilities(logits, banned=(24,))
    want = reference_truncation(logits, *settings, banned={24})
    assert got.dtype == torch.float64
    assert torch.allclose(got, want, atol=1e-12)
    assert torch.all(got[:, 24] == 0)
