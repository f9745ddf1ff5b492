"""adaLN-Zero conditioning on the log-SNR λ (DiT / MDLM style), off by default as in the paper."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from difflaws.model.mlp import linear

FREQ_DIM = 256


class LogSNREmbedding(nn.Module):
    """λ → sinusoidal features → MLP → a width-d conditioning vector per token."""

    def __init__(self, width: int, freq_dim: int = FREQ_DIM):
        super().__init__()
        half = freq_dim // 2
        self.register_buffer("freqs", torch.exp(-math.log(1e4) * torch.arange(half) / half),
                             persistent=False)
        self.inp = linear(freq_dim, width, bias=True, role="embedding")
        self.out = linear(width, width, bias=True)

    def forward(self, log_snr: torch.Tensor) -> torch.Tensor:
        angles = log_snr.float()[..., None] * self.freqs
        features = torch.cat([angles.cos(), angles.sin()], dim=-1)
        return self.out(F.silu(self.inp(features.to(self.inp.weight.dtype))))


class Modulation(nn.Module):
    """Zero-initialised map from the conditioning vector to ``chunks`` shift/scale/gate tensors."""

    def __init__(self, width: int, chunks: int):
        super().__init__()
        self.chunks = chunks
        self.proj = linear(width, chunks * width, bias=True, role="modulation")

    def forward(self, cond: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.proj(F.silu(cond)).chunk(self.chunks, dim=-1)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale) + shift
