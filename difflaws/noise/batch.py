"""What an objective's ``batch`` hands the model and its ``loss`` hands the trainer."""

from __future__ import annotations

import attrs
import torch


@attrs.frozen
class NoiseBatch:
    """A corrupted training batch.

    ``z`` [B,T] long: the noisy tokens (clean on prompt-prefix positions);
    ``log_snr`` [B,T] float32: λ per token (λ_max on prefix positions);
    ``loss_mask`` [B,T] bool: False on positions that are not scored (prefix);
    ``prefix_len`` [B] long: clean-prefix length, 0 for unconditional rows;
    ``proposal`` [B,T]: the density p(λ) each λ was drawn from.

    An objective without noise (next-token prediction) passes the clean tokens
    as ``z`` and None for ``log_snr``, ``prefix_len`` and ``proposal``.
    """

    z: torch.Tensor
    log_snr: torch.Tensor
    loss_mask: torch.Tensor
    prefix_len: torch.Tensor
    proposal: torch.Tensor


@attrs.frozen
class LossOutput:
    """``loss``: the optimised objective; ``nelbo``: unbiased NELBO (nats/token); both scalars."""

    loss: torch.Tensor
    nelbo: torch.Tensor
    n_tokens: int
