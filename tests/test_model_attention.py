"""Attention kernels against a from-scratch reference; backend selection and its errors."""

import logging
import math

import pytest
import torch

from difflaws.interfaces import interface_for
from difflaws.model.kernels.sdpa import sdpa_attention
from difflaws.model.kernels.xformers import pack_with_sinks
from difflaws.model.masks import AttentionMask
from difflaws.plugins import PluginHost
from difflaws.errors import UserError

HOST = PluginHost(entry_points=False)
B, H, T, D = 2, 3, 9, 8


def qkv(seed=0, dtype=torch.float32, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    make = lambda *s: (torch.randn(*s, generator=g) * 2).to(device=device, dtype=dtype)  # noqa: E731
    return make(B, H, T, D), make(B, H, T, D), make(B, H, T, D), make(H, D), make(H, D)


def reference(q, k, v, doc_ids, prefix_len, softcap, sink_k, sink_v):
    """Loop over rows and queries; the rule is written out from docs/theory.md §2.4."""
    out = torch.zeros_like(q)
    for b in range(B):
        for i in range(T):
            allowed = []
            for j in range(T):
                same = doc_ids is None or doc_ids[b, i] == doc_ids[b, j]
                noisy_i = prefix_len is None or i >= prefix_len[b]
                noisy_j = prefix_len is None or j >= prefix_len[b]
                allowed.append(bool(same and noisy_i >= noisy_j))
            keys = k[b, :, [j for j in range(T) if allowed[j]]]
            values = v[b, :, [j for j in range(T) if allowed[j]]]
            if sink_k is not None:
                keys = torch.cat([sink_k[:, None], keys], 1)
                values = torch.cat([sink_v[:, None], values], 1)
            s = torch.einsum("hd,hkd->hk", q[b, :, i], keys) / math.sqrt(D)
            if softcap:
                s = softcap * torch.tanh(s / softcap)
            out[b, :, i] = torch.einsum("hk,hkd->hd", torch.softmax(s, -1), values)
    return out


DOCS = torch.tensor([[0, 0, 0, 1, 1, 1, 1, 2, 2], [5, 5, 5, 5, 5, 5, 5, 5, 5]])


@pytest.mark.parametrize("softcap", [0.0, 3.0])
@pytest.mark.parametrize("sink", [False, True])
@pytest.mark.parametrize("masking", ["none", "docs", "prefix", "both"])
def test_sdpa_kernel_matches_reference(softcap, sink, masking):
    q, k, v, sk, sv = qkv()
    doc_ids = DOCS if masking in ("docs", "both") else None
    prefix_len = torch.tensor([2, 0]) if masking in ("prefix", "both") else None
    if not sink:
        sk = sv = None
    got = sdpa_attention(q, k, v, AttentionMask(T, doc_ids, prefix_len), scale=D**-0.5,
                         softcap=softcap, sink_k=sk, sink_v=sv)
    want = reference(q, k, v, doc_ids, prefix_len, softcap, sk, sv)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def test_document_lengths():
    assert AttentionMask(T, DOCS).document_lengths(B) == [3, 4, 2, 9]
    assert AttentionMask(T).document_lengths(B) == [T, T]


def test_xformers_packing_matches_dense_attention():
    """The packed layout xformers gets, evaluated with a materialised block-diagonal mask."""
    q, k, v, sk, sv = qkv(seed=1)
    mask = AttentionMask(T, DOCS)
    lengths = mask.document_lengths(B)
    pk, pv = pack_with_sinks(k, v, lengths, sk, sv)
    pq = q.transpose(1, 2).reshape(1, B * T, H, D)
    allowed = torch.zeros(B * T, B * T + len(lengths), dtype=torch.bool)
    qs = ks = 0
    for n in lengths:  # query block of n rows sees its sink and its n keys
        allowed[qs:qs + n, ks:ks + n + 1] = True
        qs, ks = qs + n, ks + n + 1
    packed = torch.nn.functional.scaled_dot_product_attention(
        pq.transpose(1, 2), pk.transpose(1, 2), pv.transpose(1, 2), attn_mask=allowed)
    got = packed.transpose(1, 2).reshape(B, T, H, D).transpose(1, 2)
    want = sdpa_attention(q, k, v, mask, scale=D**-0.5, sink_k=sk, sink_v=sv)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def backbone(**table):
    return HOST.converter.structure({"kind": "transformer", "shape": "L1-D64", **table},
                                    interface_for("backbone"))


def test_auto_picks_sdpa_on_cpu_and_says_why(caplog):
    with caplog.at_level(logging.INFO, logger="difflaws.builtins.attention"):
        model = backbone().build(vocab_size=11, seq_len=8)
    assert model.blocks[0].attn.kernel is sdpa_attention
    assert "auto chose sdpa (device is not CUDA)" in caplog.text


def test_attention_as_string_or_table():
    assert backbone(attention="sdpa").attention == backbone(attention={"kind": "sdpa"}).attention


def test_xformers_on_cpu_is_a_user_error_naming_the_key():
    cfg = backbone(attention="xformers", attn_softcap=0.0)
    with pytest.raises(UserError, match=r"^backbone\.attention: xformers needs a CUDA device"):
        cfg.build(vocab_size=11, seq_len=8, device="cpu")
    cfg.build(vocab_size=11, seq_len=8, meta=True)  # sizing a GPU spec on a laptop still works


def test_importing_the_cpu_path_never_imports_xformers():
    import subprocess
    import sys

    code = ("import sys, torch; from difflaws.plugins import PluginHost; PluginHost(entry_points=False);"
            "import difflaws.model.transformer, difflaws.model.kernels.xformers;"
            "assert 'xformers' not in sys.modules, 'xformers imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_xformers_matches_sdpa_on_packed_documents_bf16():
    pytest.importorskip("xformers.ops")
    from difflaws.model.kernels.xformers import xformers_attention

    q, k, v, sk, sv = qkv(seed=2, dtype=torch.bfloat16, device="cuda")
    mask = AttentionMask(T, DOCS.cuda())
    got = xformers_attention(q, k, v, mask, scale=D**-0.5, sink_k=sk, sink_v=sv)
    want = sdpa_attention(q.float(), k.float(), v.float(), mask, scale=D**-0.5,
                          sink_k=sk.float(), sink_v=sv.float())
    torch.testing.assert_close(got.float(), want, atol=3e-2, rtol=3e-2)
