"""Samplers: generation from a trained denoiser, for any noise process.

A sampler kind subclasses :class:`SamplerConfig`; ``build(**context)`` (no
context is passed) returns an object with::

    sample(denoiser, process, batch_size, seq_len, steps,
           prompt=None, generator=None, device=None) -> tokens [batch_size, seq_len]

``denoiser(tokens [B, T], log_snr [B, T]) -> logits [B, T, V]``; ``process``
is the run's ``NoiseProcess`` (its ``prior``, ``reverse_step``, ``schedule``
and λ range); ``prompt`` is a long tensor [batch_size, P] of token ids held
fixed at the start of every sequence (or None).  Form probabilities in float64 before drawing.
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from difflaws.interfaces.component import ComponentConfig


@attrs.frozen(kw_only=True)
class SamplerConfig(ComponentConfig):
    """Sampler: generation from a trained denoiser."""

    category: ClassVar[str] = "sampler"
