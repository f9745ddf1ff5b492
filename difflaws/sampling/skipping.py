"""Step skipping: a step that changed no token needs no new denoiser call.

A reverse-process step often leaves every token as it was; under masked noise
most steps do once ``steps`` exceeds the length, since each token is unmasked
exactly once.  The next call would then see the very same tokens, and a
denoiser that ignores λ (``reads_log_snr = False``, see
``difflaws.sampling.denoiser``; the paper's backbone, docs/theory.md §3)
returns the very same logits, so they are reused.  This is exact: the sampler
draws the same random numbers either way, so a seed gives the same tokens with
and without skipping.  The whole batch is compared at once, so skips become
rarer as batch × length grows towards ``steps``.  A denoiser that reads λ is
always called, since its logits change with λ even when the tokens do not.
"""

from __future__ import annotations

import torch

from difflaws.sampling.denoiser import reads_log_snr


class Skipping:
    """``context.query`` with the last call's logits reused while the tokens stay the same."""

    def __init__(self, context, enabled: bool = True):
        self.context = context
        self.enabled = enabled and not reads_log_snr(context.denoiser)
        self.skipped = 0
        self._last: tuple[torch.Tensor, torch.Tensor] | None = None

    def __call__(self, z: torch.Tensor, log_snr: torch.Tensor) -> torch.Tensor:
        if self._last is not None and torch.equal(self._last[0], z):
            self.skipped += 1
            return self._last[1]
        logits = self.context.query(z, log_snr)
        if self.enabled:
            self._last = (z.clone(), logits)
        return logits
