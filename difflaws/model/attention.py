"""Self-attention: QK-norm on the full width, NeoX RoPE, optional sink slot, optional KV cache.

Who sees whom (documents, prefixes, causality) is the mask's business
(``difflaws.model.masks``); the kernel applies it.
"""

from __future__ import annotations

import torch
from torch import nn

from difflaws.model.mlp import linear
from difflaws.model.norm import RMSNorm
from difflaws.model.rope import apply_rope
from difflaws.model.roles import tag


class SelfAttention(nn.Module):
    def __init__(self, width: int, head_dim: int, kernel, softcap: float, sink: bool, eps: float):
        super().__init__()
        self.heads, self.head_dim = width // head_dim, head_dim
        self.kernel, self.softcap = kernel, softcap
        self.qkv = linear(width, 3 * width, bias=False)  # one GEMM for q, k and v
        self.o = linear(width, width, bias=False)
        # normalising q and k over the full width (before the head split) is the paper's choice
        self.q_norm, self.k_norm = RMSNorm(width, eps), RMSNorm(width, eps)
        if sink:
            self.sink_k = tag(nn.Parameter(torch.zeros(self.heads, head_dim)), "sink")
            self.sink_v = tag(nn.Parameter(torch.zeros(self.heads, head_dim)), "sink")
        else:
            self.sink_k = self.sink_v = None

    def split(self, x: torch.Tensor) -> torch.Tensor:
        batch, seq, _ = x.shape
        return x.view(batch, seq, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x, mask, rope, cache=None) -> torch.Tensor:
        cos, sin = rope
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q = apply_rope(self.split(self.q_norm(q)), cos, sin)
        k = apply_rope(self.split(self.k_norm(k)), cos, sin)
        v = self.split(v)
        if cache is not None:
            k, v = cache.update(k, v)
        out = self.kernel(q, k, v, mask, scale=self.head_dim**-0.5, softcap=self.softcap,
                          sink_k=self.sink_k, sink_v=self.sink_v)
        batch, _, seq, _ = out.shape
        return self.o(out.transpose(1, 2).reshape(batch, seq, -1))
