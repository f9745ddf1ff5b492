"""PyTorch attention: fused ``scaled_dot_product_attention``, or explicit scores when soft-capping.

Soft-capping cap·tanh(s/cap) is a nonlinearity on the scores, which no fused
SDPA backend applies, so with a cap the scores are materialised: O(B·H·T²)
fp32 memory per layer (kept for backward) and roughly 2-3× the time of the
fused kernel at T = 2048.  With ``softcap = 0`` the fused kernel runs; a causal
mask (``difflaws.model.masks``) is then its ``is_causal`` case when nothing else
restricts attention, and a boolean mask otherwise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def prepend_sink(k, v, sink_k, sink_v, allowed):
    """One extra key/value slot per head that every query may attend to."""
    batch, _, seq, _ = k.shape
    k = torch.cat([sink_k.to(k.dtype)[None, :, None, :].expand(batch, -1, 1, -1), k], dim=2)
    v = torch.cat([sink_v.to(v.dtype)[None, :, None, :].expand(batch, -1, 1, -1), v], dim=2)
    if allowed is not None:
        always = allowed.new_ones(allowed.shape[:-1] + (1,))
        allowed = torch.cat([always, allowed], dim=-1)
    return k, v, allowed


def softcapped_attention(q, k, v, allowed, scale: float, softcap: float):
    """Explicit scores, soft-capped, softmax in fp32."""
    scores = torch.matmul(q, k.transpose(-1, -2)).float() * scale
    scores = softcap * torch.tanh(scores / softcap)
    if allowed is not None:
        scores = scores.masked_fill(~allowed, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return torch.matmul(weights.to(v.dtype), v)


def sdpa_attention(q, k, v, mask, *, scale: float, softcap: float = 0.0, sink_k=None, sink_v=None):
    if mask.is_plain_causal and sink_k is None and softcap == 0:
        # the fused kernel skips the masked half itself: no T×T mask is built
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale)
    allowed = mask.dense(q.device)
    if sink_k is not None:
        k, v, allowed = prepend_sink(k, v, sink_k, sink_v, allowed)
    if softcap > 0:
        return softcapped_attention(q, k, v, allowed, scale, softcap)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, is_causal=False, scale=scale)
