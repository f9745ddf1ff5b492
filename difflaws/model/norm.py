"""RMSNorm with a (1 + g) gain, g zero-initialised, variance in fp32."""

from __future__ import annotations

import torch
from torch import nn

from difflaws.model.roles import tag


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.gain = tag(nn.Parameter(torch.zeros(dim)), "norm")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the variance in fp32 keeps bf16 activations from underflowing the mean square
        x32 = x.float()
        normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return (normed * (1.0 + self.gain.float())).to(x.dtype)
