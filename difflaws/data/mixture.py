"""Bucket mixtures: a lane's items dealt to weighted corpora (quality buckets), seeded, exact.

A lane's items (:mod:`difflaws.data.lanes`) are grouped into rounds of ``R``.  Every
round holds ``n_b`` items of bucket ``b``, the largest-remainder apportionment of ``R``
by the weights (so each bucket's share is within ``1/R`` of its weight, in every round,
not just on average), in an order drawn from ``(seed, lane, round)``.  Item ``n`` of the
lane comes from bucket ``order[n mod R]``, as that bucket's item ``(n // R)·n_b`` plus
the number of earlier items of the round from the same bucket: a pure function of ``n``,
so a mixture resumes from the number of sequences consumed alone.
"""

from __future__ import annotations

import numpy as np

from difflaws.data.lru import LRU

ROUND = 4096
SALT = 0x6D6978  # keeps the mixture's draws apart from the windows' order
CACHED_ROUNDS = 256  # one current round per lane a rank reads


def apportion(weights, total: int) -> np.ndarray:
    """Integers summing to ``total`` in proportion to ``weights`` (largest remainders;
    ties go to the earlier bucket)."""
    w = np.asarray(weights, dtype=np.float64)
    quota = w / w.sum() * total
    counts = np.floor(quota).astype(np.int64)
    short = total - int(counts.sum())
    order = np.argsort(-(quota - counts), kind="stable")
    counts[order[:short]] += 1
    return counts


class Mixture:
    def __init__(self, weights, seed: int, round_size: int = ROUND):
        self.round_size, self.seed = round_size, seed
        self.counts = apportion(weights, round_size)
        self.pattern = np.repeat(np.arange(len(self.counts), dtype=np.int64), self.counts)
        self._rounds = LRU(CACHED_ROUNDS)

    def _round(self, lane: int, index: int):
        def make():
            order = np.random.default_rng([self.seed, SALT, lane, index]).permutation(
                self.pattern)
            earlier = np.empty(self.round_size, dtype=np.int64)  # same-bucket items before
            for bucket in range(len(self.counts)):
                at = order == bucket
                earlier[at] = np.arange(int(at.sum()))
            return order, earlier

        return self._rounds.get((lane, index), make)

    def locate(self, lane: int, items) -> tuple[np.ndarray, np.ndarray]:
        """``(bucket, item of that bucket)`` of items ``items`` of ``lane``."""
        items = np.asarray(items, dtype=np.int64)
        rounds, within = np.divmod(items, self.round_size)
        bucket = np.empty_like(items)
        item = np.empty_like(items)
        for r in np.unique(rounds):
            at = np.flatnonzero(rounds == r)
            order, earlier = self._round(lane, int(r))
            bucket[at] = order[within[at]]
            item[at] = int(r) * self.counts[bucket[at]] + earlier[within[at]]
        return bucket, item
