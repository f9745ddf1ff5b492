"""Data sources: documents or token streams for the train and validation splits.

A data kind subclasses :class:`DataConfig`; ``build(**context)`` (no context
is passed) returns a ``difflaws.data.source.DataSource``.  A text source
implements ``fingerprint()`` (a string that changes whenever the data does)
and ``documents()`` (``(key, text)`` pairs in a fixed order; the key decides
the validation split).  A token-native source overrides
``stream(split, tokenizer, cache_dir)`` to return a flat int array per split
and ``has_text()`` to return False.

A source too large to hold as one array overrides
``train_windows(tokenizer, cache_dir, seq_len, seed, unique_tokens, batch_size)``
to serve the training windows itself (the protocol: ``difflaws.data.loader``).

Optional capability: ``extra_metrics() -> dict`` of figures the run records
in its summary and the results DB (e.g. a synthetic source's exact entropy
rate, the floor of any model's loss).  ``metric_notes() -> dict`` may give
each a short phrase for the end-of-run line.

Every kind inherits ``unique_tokens``, the data-constrained cap: the run trains on
the first U tokens of the training split only, repeated for as many epochs as its
steps need (see :mod:`difflaws.data.pool`).  A kind needs no code for it: the default
``train_windows`` applies the cap to the training stream the source gives.  A source
that overrides ``train_windows`` receives the cap there and applies it itself (or
refuses it with a ``UserError``, as a stream of unknown length must).
"""

from __future__ import annotations

from typing import ClassVar

import attrs
from attrs.validators import ge, instance_of

from difflaws.interfaces.component import ComponentConfig, key


@attrs.frozen(kw_only=True)
class DataConfig(ComponentConfig):
    """Data source: documents or token streams for the train and validation splits."""

    category: ClassVar[str] = "data"

    unique_tokens: int = key(0, validator=[instance_of(int), ge(0)],
                             doc="train on the first U tokens of the training split only (whole "
                                 "train.seq_len windows), repeated for as many epochs as the "
                                 "steps need; 0: no cap")
