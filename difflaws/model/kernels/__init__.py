"""Attention kernels: ``kernel(q, k, v, mask, scale=, softcap=, sink_k=, sink_v=) -> out``.

q, k, v and out are [B, H, T, hd]; ``mask`` is a ``difflaws.model.masks.AttentionMask``;
``sink_k``/``sink_v`` are [H, hd] or None.  No kernel is ever causal.
"""
