"""What every reverse-process sampler shares: truncation, a greedy last step, blocks, skipping.

A sampler subclasses :class:`ReverseSampler` and implements ``denoise(model,
process, fixed, steps, generator, device)``: run the noise process backwards
over one block of tokens, ``fixed.free`` marking the positions it may write,
and return them.  ``model(z, log_snr)`` gives the block's logits; behind it the
base lays out the blocks and feeds their clean context
(``difflaws.sampling.blocks``) and reuses the logits of steps that changed
nothing (``difflaws.sampling.skipping``).  ``log_xhat`` turns logits into the
prediction x̂ every draw is made from, in float64 with the mask id banned
(docs/theory.md §1.5): the options' truncation (temperature, then top-k, top-p,
min-p; ``difflaws.sampling.truncation``), or on the last step, with
``greedy_final``, the argmax alone.
"""

from __future__ import annotations

import attrs
import torch

from difflaws.sampling.blocks import generate
from difflaws.sampling.truncation import Truncation

IDENTITY = Truncation()  # x̂ as the model gives it
GREEDY = Truncation(temperature=0.0)


@attrs.frozen
class ReverseOptions:
    truncation: Truncation = IDENTITY
    block_length: int = 0  # 0: one block over the whole length
    kv_cache: bool = True  # feed finished blocks once through the denoiser's KV cache
    skip_unchanged: bool = True  # reuse logits when nothing changed (λ-blind denoisers only)
    greedy_final: bool = False  # the last step takes the argmax of x̂


class ReverseSampler:
    def __init__(self, options: ReverseOptions | None = None) -> None:
        self.options = options or ReverseOptions()

    def sample(self, denoiser, process, batch_size: int, seq_len: int, steps: int,
               prompt=None, generator=None, device=None) -> torch.Tensor:
        with torch.no_grad():
            return generate(self, denoiser, process, batch_size, seq_len, steps, prompt,
                            generator, device)

    def denoise(self, model, process, fixed, steps: int, generator=None, device=None):
        raise NotImplementedError

    def log_xhat(self, logits: torch.Tensor, process, final: bool = False) -> torch.Tensor:
        """log x̂ [..., V] in float64, truncated; ``final``: the last step of a block."""
        truncation = GREEDY if final and self.options.greedy_final else self.options.truncation
        if truncation == IDENTITY:  # the same numbers without the detour through probabilities
            return process.denoised_log_probs(logits.double())
        return truncation.probabilities(logits, banned=(process.mask_id,)).log()

    @staticmethod
    def grid(process, steps: int) -> list[float]:
        """The ``steps + 1`` λ of the schedule's grid, noisy to clean (docs/theory.md §2.6)."""
        return process.schedule.grid(steps, process.log_snr_min, process.log_snr_max).tolist()
