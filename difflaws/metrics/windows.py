"""Cutting a token sequence into blocks a fixed-context model can score.

Targets ``first … n−1`` of a sequence of n tokens are scored in blocks
[a, b).  A model *reaches* ``reach`` tokens at once (the context it sees plus
the block's targets) and needs at least ``min_context`` tokens before a block
(1 for next-token prediction, which has nothing to predict the first token
from; 0 for a denoiser).  Blocks are as long as the reach allows; each block's
context is the ``reach − (b − a)`` tokens before it, so every target is scored
exactly once, the first block from the start of the sequence, middle blocks
with the minimal context, and the last block with as much context as fits.
This is the rolling-window scheme of lm-eval's perplexity tasks
(docs/evaluation.md §4).
"""

from __future__ import annotations


def blocks(n: int, first: int, reach: int, min_context: int) -> list[tuple[int, int, int]]:
    """``(lo, a, b)`` per block: its context is tokens ``lo … a−1``, its targets ``a … b−1``."""
    if reach <= min_context:
        raise ValueError(f"a reach of {reach} tokens leaves no room for a target")
    a = max(first, min_context)
    # a first block that starts inside the reach keeps everything before it as context
    b = min(n, reach) if a < reach else min(n, a + reach - min_context)
    out = []
    while a < n:
        out.append((max(0, b - reach), a, b))
        a, b = b, min(n, b + reach - min_context)
    return out
