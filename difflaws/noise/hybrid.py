"""Mask/uniform mixtures whose uniform share is constant or σ(a·λ + b) (docs/theory.md §2.2)."""

from __future__ import annotations

import math

import torch

from difflaws.noise.logsig import log_sigmoid
from difflaws.noise.mixture import MaskUniformProcess


class ConstantShareProcess(MaskUniformProcess):
    """π constant in λ: s = 0 is masked diffusion, s = 1 uniform diffusion."""

    def __init__(self, vocab_size, mask_id, uniform: bool, **options):
        super().__init__(vocab_size, mask_id, **options)
        self.uniform = uniform

    def log_shares(self, log_snr):
        zero, ninf = torch.zeros_like(log_snr), torch.full_like(log_snr, float("-inf"))
        return (zero, ninf) if self.uniform else (ninf, zero)

    def share_rates(self, log_snr):
        zero = torch.zeros_like(log_snr)
        return zero, zero


class HybridProcess(MaskUniformProcess):
    """s_λ = σ(a·λ + b) (docs/theory.md §2.2); b = ±inf is exactly pure uniform / pure masked."""

    def __init__(self, vocab_size, mask_id, shift: float, scale: float, **options):
        super().__init__(vocab_size, mask_id, **options)
        self.shift, self.scale = shift, scale

    def _arg(self, log_snr):
        if math.isinf(self.shift):  # a·λ + inf is inf even where a·λ is not finite-safe
            return torch.full_like(log_snr, self.shift)
        return self.scale * log_snr + self.shift

    def log_shares(self, log_snr):
        y = self._arg(log_snr)
        return log_sigmoid(y), log_sigmoid(-y)

    def share_rates(self, log_snr):
        if math.isinf(self.shift):
            zero = torch.zeros_like(log_snr)
            return zero, zero
        y = self._arg(log_snr)
        # d log σ(y)/dλ = a·σ(−y);  −d log σ(−y)/dλ = a·σ(y)
        return self.scale * torch.sigmoid(-y), self.scale * torch.sigmoid(y)
