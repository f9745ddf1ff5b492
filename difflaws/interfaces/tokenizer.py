"""Tokenizers: text ↔ token ids, with a mask id and an EOS id.

A tokenizer kind subclasses :class:`TokenizerConfig`.  ``build`` receives
``source`` (the run's built data source, or None) and ``cache_dir`` (a
folder for trained artefacts, or None) and returns a
``difflaws.tokenizers.Tokenizer``: ``vocab_size``, ``mask_id``, ``eos_id``,
``bytes_per_token`` (NaN until calibrated), ``encode``, ``decode`` and
``describe()``.

Optional capability: :attr:`TokenizerConfig.vocab_size`, so the model can be
sized (``validate --json``, ``run --dry-run``) without building the tokenizer.
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from difflaws.interfaces.component import ComponentConfig


@attrs.frozen(kw_only=True)
class TokenizerConfig(ComponentConfig):
    """Tokenizer: text ↔ token ids, with a mask token."""

    category: ClassVar[str] = "tokenizer"

    def build(self, source=None, cache_dir=None, **context):
        raise NotImplementedError(f"{type(self).__qualname__} does not implement build()")

    @property
    def vocab_size(self) -> int | None:
        """The vocabulary size when it is known without building (a field or property
        of the kind), else None."""
        return None
