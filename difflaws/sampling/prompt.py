"""The clean prompt prefix every sampler honours: fixed tokens at λ_max, never rewritten."""

from __future__ import annotations

import torch


def prompt_length(prompt, seq_len: int) -> int:
    """The prompt's tokens per row (0 for None); a UserError when they exceed ``seq_len``."""
    length = 0 if prompt is None else int(prompt.shape[1])
    if length > seq_len:
        from difflaws.errors import UserError

        raise UserError(f"prompt of {length} tokens does not fit seq_len {seq_len}")
    return length


class Prompt:
    def __init__(self, prompt, batch_size: int, seq_len: int, device=None) -> None:
        self.length = prompt_length(prompt, seq_len)
        self.tokens = prompt
        self.free = torch.ones(batch_size, seq_len, dtype=torch.bool, device=device)
        self.free[:, : self.length] = False

    def apply(self, z: torch.Tensor) -> torch.Tensor:
        if self.length:
            z = z.clone()
            z[:, : self.length] = self.tokens.to(z)
        return z

    def log_snr(self, value: float, process, shape, device=None) -> torch.Tensor:
        """λ for the denoiser: ``value`` on free positions, λ_max on the prompt."""
        lam = torch.full(shape, float(value), dtype=torch.float32, device=device)
        lam[:, : self.length] = process.log_snr_max
        return lam

    def choose(self, score: torch.Tensor, k: int) -> torch.Tensor:
        """Mask of the (at most) ``k`` best-scoring positions per row; only positive scores count."""
        top = score.topk(min(k, score.shape[1]), dim=1).indices
        return torch.zeros_like(self.free).scatter_(1, top, True) & (score > 0)
