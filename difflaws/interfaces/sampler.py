"""Samplers: generation from a trained model, for any noise process or next-token model.

A sampler kind subclasses :class:`SamplerConfig`; ``build(**context)`` (no
context is passed) returns an object with::

    sample(denoiser, process, batch_size, seq_len, steps,
           prompt=None, generator=None, device=None) -> tokens [batch_size, seq_len]

``denoiser(tokens [B, T], log_snr [B, T]) -> logits [B, T, V]`` is the trained
backbone module itself, so a sampler may use its optional capabilities (a KV
cache: ``denoiser.new_cache``); ``process`` is the run's ``NoiseProcess`` (its
``prior``, ``reverse_step``, ``schedule`` and λ range), or for an objective
without noise the objective itself (its ``mask_id``, never to be generated);
``prompt`` is a long tensor [batch_size, P] of token ids held fixed at the
start of every sequence (or None; P > seq_len is a ``UserError``).  ``steps`` is the
number of denoising steps (per block, for block-wise generation); a next-token
sampler ignores it.  Form probabilities in float64 before drawing.
:meth:`SamplerConfig.family` says which objectives' models a sampler serves.

A denoiser may declare ``reads_log_snr = False`` (an attribute): its logits do
not depend on λ, so a sampler may reuse the logits of a step that changed no
token (step skipping, docs/theory.md §2.6).  Without the attribute a sampler
must assume it reads λ.  ``difflaws.sampling.CountedDenoiser(module,
reads_log_snr)`` adds the declaration to a module and counts its calls (NFE);
``difflaws sample`` passes the run's model that way, with
``BackboneConfig.reads_log_snr()``.

The built-in diffusion samplers share ``difflaws.sampling.ReverseSampler``
(truncation of x̂, block-wise generation over a KV cache, step skipping, a
greedy last step): a new one subclasses it and implements ``denoise`` for one
block.  Block-wise generation calls the denoiser with ``cache=`` (a KV-cached
context) or ``prefix_len=`` (a recomputed one), the Backbone protocol's keywords.
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from difflaws.interfaces.component import ComponentConfig


#: sampler families: which trained models a sampler can generate from
REVERSE_PROCESS = "reverse-process"  # runs the objective's noise process backwards
LEFT_TO_RIGHT = "left-to-right"  # extends a prefix one token per pass


@attrs.frozen(kw_only=True)
class SamplerConfig(ComponentConfig):
    """Sampler: generation from a trained denoiser."""

    category: ClassVar[str] = "sampler"

    def family(self) -> str:
        """Which objectives' models it generates from, matched against
        ``ObjectiveConfig.sampler_family()`` when a spec loads: ``"reverse-process"`` (it
        runs ``process`` backwards) or ``"left-to-right"`` (it extends a prefix token by
        token)."""
        return REVERSE_PROCESS
