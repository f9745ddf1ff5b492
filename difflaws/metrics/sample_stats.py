"""What generated token rows look like: unigram entropy and n-gram repetition.

Both are computed per sample (one row of generated tokens, every id counted,
EOS included) and then averaged over samples, so a sampler that collapses
each sample onto a few tokens scores low even when different samples collapse
onto different tokens (docs/evaluation.md §1):

* entropy H = −Σ_v p_v·log p_v in nats, p_v the share of the row's tokens equal to v;
* repetition rate for n-grams, rep_n = 1 − (distinct n-grams)/(n-grams in the row):
  the fraction of the row's L − n + 1 n-grams that repeat an earlier one.
"""

from __future__ import annotations

import math
from collections import Counter

REPETITION_ORDERS = (1, 2, 3, 4)


def unigram_entropy(row) -> float:
    """Entropy in nats of the empirical distribution of the ids in ``row``."""
    counts = Counter(int(t) for t in row)
    total = sum(counts.values())
    if total == 0:
        return math.nan
    return -sum(c / total * math.log(c / total) for c in counts.values())


def repetition_rate(row, n: int) -> float:
    """Fraction of the row's n-grams that already occurred earlier in it (NaN if none)."""
    ids = [int(t) for t in row]
    grams = [tuple(ids[i:i + n]) for i in range(len(ids) - n + 1)]
    if not grams:
        return math.nan
    return 1.0 - len(set(grams)) / len(grams)
