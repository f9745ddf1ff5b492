"""Next-token prediction: the autoregressive baseline's exact negative log-likelihood.

Logits at position t predict token t+1 of the same window, so a window of T
tokens scores T − 1 of them: the first token of every window has no context
and is not scored.  The figure is nats per scored token, the unit of the
diffusion NELBO, so families compare directly (docs/theory.md §9).  Attention
stays inside a packed document; the EOS that ends one document predicts the
first token of the next from that document's context, as packed language-model
training does.  The softmax runs over the whole vocabulary, the mask id included: it
is a proper distribution whose mask probability the model learns to drive to zero,
so the NLL stays exact; samplers exclude the mask id.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from difflaws.noise.batch import LossOutput, NoiseBatch
from difflaws.noise.bound import SequenceBound, ValBatch

IGNORE = -100  # cross_entropy's marker for a position without a target


class NextTokenObjective:
    causal = True
    exact = True  # one pass gives the NLL: no noise to average over
    figure_name = "NLL"
    process = None

    def __init__(self, mask_id: int, eos_id: int):
        self.mask_id = mask_id  # samplers never generate it
        self.eos_id = eos_id  # an unprompted sample starts after one, like a packed document

    def batch(self, x: torch.Tensor, generator=None) -> NoiseBatch:
        scored = torch.ones_like(x, dtype=torch.bool)
        scored[:, -1] = False  # the last position's prediction has no target in the window
        return NoiseBatch(z=x, log_snr=None, loss_mask=scored, prefix_len=None, proposal=None)

    def loss(self, logits: torch.Tensor, batch: NoiseBatch, x: torch.Tensor) -> LossOutput:
        nll = self._token_nll(logits, x, "mean")
        return LossOutput(loss=nll, nelbo=nll, n_tokens=x.shape[0] * (x.shape[1] - 1))

    def val_batch(self, x: torch.Tensor, generator=None, proposal=None) -> ValBatch:
        return ValBatch(passes=(self.batch(x, generator),))

    def bound(self, logits, batch: ValBatch, x: torch.Tensor) -> SequenceBound:
        """The exact NLL per window: the reported figure needs no bound and no draws."""
        nll = self._token_nll(logits[0], x, "none").double().reshape(x.shape).sum(1)
        return SequenceBound(total=nll, n_tokens=torch.full_like(nll, x.shape[1] - 1))

    @staticmethod
    def _token_nll(logits: torch.Tensor, x: torch.Tensor, reduction: str) -> torch.Tensor:
        # targets shifted left with the last position ignored: no copy of the [B, T, V] logits
        targets = torch.cat([x[:, 1:], torch.full_like(x[:, :1], IGNORE)], dim=1)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1),
                               ignore_index=IGNORE, reduction=reduction)
