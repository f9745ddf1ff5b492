"""One pre-norm transformer block with scaled residual branches."""

from __future__ import annotations

from torch import nn

from difflaws.model.attention import SelfAttention
from difflaws.model.conditioning import Modulation, modulate
from difflaws.model.mlp import SquaredReluMLP
from difflaws.model.norm import RMSNorm


class Block(nn.Module):
    def __init__(self, width: int, head_dim: int, mlp_ratio: int, kernel, softcap: float,
                 sink: bool, eps: float, residual_mult: float, adaln: bool):
        super().__init__()
        self.residual_mult = residual_mult
        self.attn_norm = RMSNorm(width, eps)
        self.attn = SelfAttention(width, head_dim, kernel, softcap, sink, eps)
        self.mlp_norm = RMSNorm(width, eps)
        self.mlp = SquaredReluMLP(width, mlp_ratio)
        self.modulation = Modulation(width, 6) if adaln else None

    def forward(self, h, mask, rope, cond=None, cache=None):
        r = self.residual_mult
        if self.modulation is None:
            h = h + r * self.attn(self.attn_norm(h), mask, rope, cache)
            return h + r * self.mlp(self.mlp_norm(h))
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(cond)
        h = h + r * gate1 * self.attn(modulate(self.attn_norm(h), shift1, scale1), mask, rope,
                                      cache)
        return h + r * gate2 * self.mlp(modulate(self.mlp_norm(h), shift2, scale2))
