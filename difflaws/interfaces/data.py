"""Data sources: documents or token streams for the train and validation splits.

A data kind subclasses :class:`DataConfig`; ``build(**context)`` (no context
is passed) returns a ``difflaws.data.source.DataSource``.  A text source
implements ``fingerprint()`` (a string that changes whenever the data does)
and ``documents()`` (``(key, text)`` pairs in a fixed order; the key decides
the validation split).  A token-native source overrides
``stream(split, tokenizer, cache_dir)`` to return a flat int array per split
and ``has_text()`` to return False.

Optional capability: ``extra_metrics() -> dict`` of figures the run records
in its summary and the results DB (e.g. a synthetic source's exact entropy
rate, the floor of any model's loss).  ``metric_notes() -> dict`` may give
each a short phrase for the end-of-run line.
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from difflaws.interfaces.component import ComponentConfig


@attrs.frozen(kw_only=True)
class DataConfig(ComponentConfig):
    """Data source: documents or token streams for the train and validation splits."""

    category: ClassVar[str] = "data"
