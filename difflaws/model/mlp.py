"""d → 4d → d with squared ReLU and biases on both projections."""

from __future__ import annotations

import torch
from torch import nn

from difflaws.model.roles import tag


def linear(d_in: int, d_out: int, bias: bool, role: str = "hidden") -> nn.Linear:
    layer = nn.Linear(d_in, d_out, bias=bias)
    tag(layer.weight, role)
    if bias:
        tag(layer.bias, "bias")
    return layer


class SquaredReluMLP(nn.Module):
    def __init__(self, width: int, ratio: int = 4):
        super().__init__()
        self.up = linear(width, ratio * width, bias=True)
        self.down = linear(ratio * width, width, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(torch.relu(self.up(x)).square())
