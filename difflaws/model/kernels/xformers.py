"""xformers ``memory_efficient_attention`` on packed documents (CUDA only, imported lazily).

The batch is flattened into one packed row and documents become a
``BlockDiagonalMask`` (its causal variants for a causal mask), so no T×T
mask is materialised.  Sink slots are inserted as an extra key at the start
of every document's keys.  A clean prompt prefix needs a mask that is not
block-diagonal, so those batches go through the SDPA kernel, as do queries
against cached keys (generation).  xformers has no
logit soft-capping, so the backbone refuses ``softcap > 0`` with this kernel.
"""

from __future__ import annotations

import torch

from difflaws.model.kernels.sdpa import sdpa_attention


def pack_with_sinks(k, v, lengths: list[int], sink_k, sink_v):
    """[B,H,T,hd] keys/values → [1, B·T + n_docs, H, hd] with a sink before each document."""
    batch, heads, seq, dim = k.shape
    n_docs = len(lengths)
    flat_k = k.transpose(1, 2).reshape(batch * seq, heads, dim)
    flat_v = v.transpose(1, 2).reshape(batch * seq, heads, dim)
    doc_of_token = torch.repeat_interleave(torch.arange(n_docs, device=k.device),
                                           torch.tensor(lengths, device=k.device))
    token_slot = torch.arange(batch * seq, device=k.device) + doc_of_token + 1
    starts = torch.tensor([0] + lengths[:-1], device=k.device).cumsum(0)
    sink_slot = starts + torch.arange(n_docs, device=k.device)
    out_k = flat_k.new_empty(batch * seq + n_docs, heads, dim)
    out_v = flat_v.new_empty(batch * seq + n_docs, heads, dim)
    out_k[token_slot], out_v[token_slot] = flat_k, flat_v
    out_k[sink_slot] = sink_k.to(k.dtype).expand(n_docs, -1, -1)
    out_v[sink_slot] = sink_v.to(v.dtype).expand(n_docs, -1, -1)
    return out_k[None], out_v[None]


def xformers_attention(q, k, v, mask, *, scale: float, softcap: float = 0.0, sink_k=None, sink_v=None):
    if softcap > 0:
        raise ValueError("xformers attention cannot soft-cap logits")
    if mask.has_prefix or mask.offset:
        return sdpa_attention(q, k, v, mask, scale=scale, sink_k=sink_k, sink_v=sink_v)
    from xformers.ops import fmha
    from xformers.ops.fmha import attn_bias

    batch, heads, seq, dim = q.shape
    lengths = mask.document_lengths(batch)
    packed_q = q.transpose(1, 2).reshape(1, batch * seq, heads, dim)
    if sink_k is None:
        packed_k = k.transpose(1, 2).reshape(1, batch * seq, heads, dim)
        packed_v = v.transpose(1, 2).reshape(1, batch * seq, heads, dim)
        bias = (attn_bias.BlockDiagonalCausalMask if mask.causal
                else attn_bias.BlockDiagonalMask).from_seqlens(lengths)
    else:
        packed_k, packed_v = pack_with_sinks(k, v, lengths, sink_k, sink_v)
        # each document's keys are its sink then its tokens: counted from the bottom right,
        # query i of a document sees the sink and tokens 0..i
        bias = (attn_bias.BlockDiagonalCausalFromBottomRightMask if mask.causal
                else attn_bias.BlockDiagonalMask).from_seqlens(lengths, [n + 1 for n in lengths])
    out = fmha.memory_efficient_attention(packed_q, packed_k, packed_v, attn_bias=bias, scale=scale)
    return out.reshape(batch, seq, heads, dim).transpose(1, 2)
