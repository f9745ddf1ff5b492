"""Attention kernels: ``kernel(q, k, v, mask, scale=, softcap=, sink_k=, sink_v=) -> out``.

q, k, v and out are [B, H, T, hd]; ``mask`` is a ``difflaws.model.masks.AttentionMask``;
``sink_k``/``sink_v`` are [H, hd] or None.  Causality is part of ``mask``
(``mask.causal``), as are cached keys (``mask.offset``: k and v then have
``offset`` more positions than q).
"""
