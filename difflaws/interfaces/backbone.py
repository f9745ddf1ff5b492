"""Backbones: the network mapping (tokens, λ) to logits.

A backbone kind subclasses :class:`BackboneConfig`.  ``build`` receives

* ``vocab_size`` (int) and ``seq_len`` (int or None: the training context);
* ``parameterization``: a built parameterization (see
  ``difflaws.interfaces.parameterization``), or None for the default kind's;
* ``device`` (a ``torch.device`` or None for CPU) and ``meta`` (bool): with
  ``meta=True`` build on the meta device, allocating nothing (used to size
  and plan models; skip initialisation);
* ``causal`` (bool): attend causally, for an objective that predicts the next
  token (only passed as True when :meth:`BackboneConfig.supports_causal`).

and returns a ``torch.nn.Module`` that offers the :class:`Backbone` protocol.
"""

from __future__ import annotations

from typing import ClassVar, Protocol, runtime_checkable

import attrs

from difflaws.interfaces.component import ComponentConfig


@runtime_checkable
class Backbone(Protocol):
    """What a built backbone module offers the trainer, optimizer, FSDP and coordcheck."""

    def forward(self, tokens, log_snr=None, doc_ids=None, prefix_len=None):
        """``tokens`` [B, T] long, ``log_snr`` [B, T] float → logits [B, T, V].

        ``doc_ids`` [B, T] (packed documents: attend within a document only)
        and ``prefix_len`` [B] (clean prompt prefix) may be None; so is
        ``log_snr`` for an objective without noise.  Optional capability:
        a ``cache=`` keyword taking what ``new_cache(capacity)`` returns, so
        generation feeds only new positions (``difflaws.model.kv_cache``);
        samplers fall back to full passes without it.
        """

    def param_records(self) -> list:
        """One ``ParamRecord`` per named parameter, from the parameterization."""

    def init_weights(self, generator=None) -> None:
        """(Re-)initialise every parameter as its record says, drawing from ``generator``."""

    def repeated_blocks(self) -> list:
        """The repeated layers, in order: the unit of FSDP sharding, activation
        checkpointing and per-block compilation."""

    def probes(self) -> dict:
        """Modules whose outputs ``difflaws coordcheck`` measures, by layer type:
        ``{"embedding": [...], "attention": [...], "mlp": [...], "residual": [...],
        "logits": [...]}``; a backbone may offer any subset or other layer types."""


@attrs.frozen(kw_only=True)
class BackboneConfig(ComponentConfig):
    """Backbone: the network mapping (tokens, λ) to logits."""

    category: ClassVar[str] = "backbone"

    def build(self, vocab_size: int, seq_len: int | None = None, parameterization=None,
              device=None, meta: bool = False, **context):
        raise NotImplementedError(f"{type(self).__qualname__} does not implement build()")

    # -- optional capabilities --------------------------------------------
    def figures(self, vocab_size: int | None, seq_len: int) -> dict:
        """Size and FLOP figures without building anything (keep it free of torch).

        Keys the core reads: ``non_embedding_params``, ``total_params``
        (None when ``vocab_size`` is None), ``flops_per_token_M`` (forward +
        backward FLOPs per token, attention included) and
        ``flops_per_token_6P`` (6 × non-embedding parameters); ``shape`` (a name such as
        ``L2-D64-H4``) is shown by ``difflaws runs`` when given.  Any other key
        is shown by ``validate --json`` and stored in the run summary.  The
        default is {}: runs then record no size, and fits cannot use them.
        """
        return {}

    def supports_causal(self) -> bool:
        """Whether ``build(causal=True)`` gives a causal network (for the autoregressive
        objective); a spec pairing a causal objective with a backbone that says no is
        refused when it loads."""
        return False

    def reads_log_snr(self) -> bool:
        """Whether the network needs λ with the tokens (e.g. adaLN conditioning); such a
        backbone cannot serve an objective without noise."""
        return False

    def max_context(self) -> int | None:
        """The longest sequence the backbone accepts, or None for no limit."""
        return None

    def resized(self, width: int, depth: int) -> "BackboneConfig":
        """The same backbone at another width and depth, for ``coordcheck``;
        raise ``difflaws.errors.UserError`` for a shape it cannot take."""
        from difflaws.errors import UserError

        raise UserError(f"{type(self).__qualname__} cannot be resized, so coordcheck "
                        "cannot sweep it; implement BackboneConfig.resized()")
