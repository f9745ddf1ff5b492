"""Backbone figures for arbitrary shapes, through the backbone's own ``figures()``."""

from __future__ import annotations

from functools import lru_cache


def shape_measure(backbone_table: dict, vocab_size: int | None, seq_len: int, host):
    """``measure(depth, width) -> figures`` for the backbone in ``backbone_table``.

    The table is a spec's ``[backbone]`` table (``kind`` plus options); each
    shape is the backbone's own ``resized(width, depth)``.
    """
    base = host.structure("backbone", backbone_table)

    @lru_cache(maxsize=None)
    def measure(depth: int, width: int) -> dict:
        return base.resized(width, depth).figures(vocab_size=vocab_size, seq_len=seq_len)

    return measure
