"""Objectives: what a run trains its network to do, and what its loss figure means.

An objective kind subclasses :class:`ObjectiveConfig`.  ``build`` receives

* ``noise``: the spec's ``[noise]`` config, or None when the spec has none;
* ``vocab_size``, ``mask_id`` and ``eos_id`` (ints): the tokenizer's.

and returns an object that offers the :class:`Objective` protocol.  The
trainer, ``evaluate`` and ``eval`` know nothing else about it: the built-in
``diffusion`` kind wraps the run's noise process, the built-in
``autoregressive`` kind scores next tokens through a causal backbone, and a
third-party kind (block diffusion, an encoder-decoder mix) drops in the same way.

The reported figure (``val_nelbo``, ``eval``) comes from two optional methods,
``val_batch(x, generator, proposal=None)`` and ``bound(logits, batch, x)``
(see :class:`Objective`): the built-in diffusion objective reports the process
NELBO of ``difflaws.noise.bound`` (a true bound, docs/theory.md §2.8), the
autoregressive one its exact NLL.  An objective without them reports its
``loss``'s ``nelbo`` on the validation data, one estimate per batch, and the
trained objective's own figure is recorded beside either as ``val_objective``.

The spec checks, when it loads, that the backbone can serve the objective:
a causal objective needs ``BackboneConfig.supports_causal()``, and a backbone
that reads λ (``BackboneConfig.reads_log_snr()``) needs an objective that
gives it one (:meth:`ObjectiveConfig.gives_log_snr`).
"""

from __future__ import annotations

from typing import ClassVar, Protocol, runtime_checkable

import attrs

from difflaws.interfaces.component import ComponentConfig
from difflaws.interfaces.sampler import REVERSE_PROCESS


@runtime_checkable
class Objective(Protocol):
    """What a built objective offers the trainer and the evaluator.

    Two more methods are optional (not members, so an objective without them still
    is one) and give the reported figure (``difflaws.train.evaluate``):

    * ``val_batch(x, generator=None, proposal=None)``: a
      ``difflaws.noise.bound.ValBatch`` holding one ``NoiseBatch`` per model call in
      ``passes``, or None to fall back to ``loss``; ``proposal``, when given, is the
      λ proposal to draw from (``difflaws.noise.bound.FittedProposal``);
    * ``bound(logits, batch, x)``: a ``difflaws.noise.bound.SequenceBound`` from the
      list of logits of ``batch.passes``: per window, an unbiased estimate of a bound
      on −log p(x) summed over its scored tokens, and the number of tokens scored.
    """

    #: whether the backbone must attend causally (each position sees only earlier ones)
    causal: bool
    #: whether ``loss`` is exact (one evaluation pass gives the figure, no Monte Carlo)
    exact: bool
    #: the run's ``NoiseProcess`` for samplers that step one, else None
    process: object
    #: what the reported figure is called ("NELBO", "NLL"); always nats per scored token
    figure_name: str

    def batch(self, x, generator=None):
        """The model's inputs for clean tokens ``x`` [B, T]: a
        ``difflaws.noise.batch.NoiseBatch`` whose ``z``, ``log_snr`` (may be None) and
        ``prefix_len`` (may be None) the trainer hands the backbone."""

    def loss(self, logits, batch, x):
        """A ``difflaws.noise.batch.LossOutput``: the optimised ``loss``, the run's
        training figure ``nelbo`` (nats per scored token: the NELBO for diffusion, the
        exact negative log-likelihood for next-token prediction) and ``n_tokens``."""


@attrs.frozen(kw_only=True)
class ObjectiveConfig(ComponentConfig):
    """Objective: what the network is trained to predict, and the loss that is reported."""

    category: ClassVar[str] = "objective"

    def build(self, noise=None, vocab_size: int = 0, mask_id: int = 0, **context):
        raise NotImplementedError(f"{type(self).__qualname__} does not implement build()")

    # -- what the spec checks when it loads -----------------------------------
    def needs_noise(self) -> bool:
        """Whether the spec must have a ``[noise]`` table (True) or must not (False)."""
        return True

    def causal(self) -> bool:
        """Whether the backbone must attend causally."""
        return False

    def gives_log_snr(self) -> bool:
        """Whether the backbone receives a log-SNR λ with the tokens."""
        return True

    def sampler_family(self) -> str:
        """Which samplers can generate from the trained model; a sampler kind names the
        family it serves in ``SamplerConfig.family()``."""
        return REVERSE_PROCESS

    def default_sampler(self):
        """The ``SamplerConfig`` a spec without a ``[sampler]`` table gets."""
        from difflaws.interfaces.component import default_of

        return default_of("sampler").factory()

    # -- what a run records ------------------------------------------------------
    def family_label(self, kind: str, noise_label: str | None) -> str:
        """The run's model-family label, by which ``fit --by noise`` groups runs: the
        noise label when the objective trains a noise process, else ``kind``."""
        return noise_label if noise_label is not None else kind

    def attention_pairs_fraction(self, seq_len: int) -> float:
        """The fraction of the T² query-key pairs attention needs: 1 when bidirectional,
        (T+1)/2T when causal.  The FLOP conventions M and 6P count all T² pairs whatever
        the objective (so budgets compare across families); a run also records
        ``flops_per_token_M_causal`` with only the pairs a causal kernel must compute."""
        return (seq_len + 1) / (2 * seq_len) if self.causal() else 1.0
