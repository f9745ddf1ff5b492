"""Degenerate samples: text that says the model or the sampler settings failed.

A generated sample (the prompt excluded) is degenerate when one token fills at
least ``REPEAT_SHARE`` of it, or when it decodes to whitespace alone: what an
undertrained model gives with a greedy sampler (every position the same, most
likely, token).  ``difflaws sample`` warns about each one instead of printing
blank lines silently.
"""

from __future__ import annotations

from collections import Counter

REPEAT_SHARE = 0.9


def degeneracy(tokens: list[int], decode) -> str | None:
    """Why the generated ``tokens`` are degenerate (``decode``: ids → text), or None."""
    if not tokens:
        return None
    if not decode(tokens).strip():
        return "it is only whitespace"
    token, count = Counter(tokens).most_common(1)[0]
    share = count / len(tokens)
    if share >= REPEAT_SHARE:
        return f"token {token} ({decode([token])!r}) fills {share:.0%} of it"
    return None
