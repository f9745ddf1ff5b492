"""Backbone figures for arbitrary shapes, through the backbone's own ``figures()``."""

from __future__ import annotations

from functools import lru_cache

from difflaws.components import Slot

SHAPE_KEYS = ("shape", "width", "depth", "head_dim")


def shape_measure(backbone_table: dict, vocab_size: int | None, seq_len: int, host):
    """``measure(depth, width) -> figures`` for the backbone kind in ``backbone_table``.

    The table is a spec's ``[backbone]`` table (``kind`` plus options); its
    own shape keys are replaced by ``shape = "L<depth>-D<width>"``.
    """
    rest = {k: v for k, v in backbone_table.items() if k not in SHAPE_KEYS}

    @lru_cache(maxsize=None)
    def measure(depth: int, width: int) -> dict:
        config = host.converter.structure({**rest, "shape": f"L{depth}-D{width}"},
                                          Slot["backbone"])
        return config.figures(vocab_size=vocab_size, seq_len=seq_len)

    return measure
