"""The order lanes read one corpus's windows in: shuffled by blocks, an epoch at a time.

A corpus too large for memory is read in blocks of consecutive windows (for parquet,
the windows that start in one row group; :mod:`difflaws.data.parquet`).  Epoch ``e``
orders the blocks by a permutation drawn from ``(seed, salt, e)`` and the windows inside
each block by one drawn from ``(seed, salt, e, block)``; the epoch's sequence is then
cut into one contiguous segment per lane (:mod:`difflaws.data.lanes`), each lane's share
in proportion to its width.  Item ``m`` of a lane is item ``m mod s`` of its segment of
epoch ``m // s`` (``s`` its segment's length).  So one pass of every lane over its
segment serves every window exactly once, lanes of equal width pass in step, and each
lane reads whole blocks one after the other: a rank holds one or two blocks per lane.

Everything is a pure function of the item number, so the data position a checkpoint
needs is the number of sequences consumed.
"""

from __future__ import annotations

import numpy as np

from difflaws.data.lru import LRU

CACHED_EPOCHS = 3
CACHED_BLOCKS = 256  # within-block permutations kept: a few per lane a rank reads


class BlockOrder:
    def __init__(self, block_sizes, lane_widths, seed: int, salt: int = 0):
        sizes = np.asarray(block_sizes, dtype=np.int64)
        self.sizes = sizes[sizes > 0]
        self.block_start = np.concatenate([[0], np.cumsum(self.sizes)])[:-1]
        self.n_windows = int(self.sizes.sum())
        widths = np.asarray(lane_widths, dtype=np.int64)
        edges = np.concatenate([[0], np.cumsum(widths)])
        self.segment_start = self.n_windows * edges[:-1] // edges[-1]
        self.segment_len = self.n_windows * edges[1:] // edges[-1] - self.segment_start
        self.seed, self.salt = seed, salt
        self._epochs = LRU(CACHED_EPOCHS)
        self._blocks = LRU(CACHED_BLOCKS)

    def starved_lanes(self) -> int:
        """Lanes whose segment is empty (the corpus has fewer windows than lanes need)."""
        return int((self.segment_len == 0).sum())

    def _epoch(self, epoch: int):
        def make():
            perm = np.random.default_rng([self.seed, self.salt, epoch]).permutation(
                len(self.sizes))
            return perm, np.cumsum(self.sizes[perm])

        return self._epochs.get(epoch, make)

    def _inside(self, epoch: int, block: int) -> np.ndarray:
        return self._blocks.get((epoch, block), lambda: np.random.default_rng(
            [self.seed, self.salt, epoch, block]).permutation(self.sizes[block]))

    def windows(self, lane: int, items) -> np.ndarray:
        """The window indices of items ``items`` of ``lane``."""
        items = np.asarray(items, dtype=np.int64)
        epoch, j = np.divmod(items, self.segment_len[lane])
        position = self.segment_start[lane] + j
        out = np.empty(len(items), dtype=np.int64)
        for e in np.unique(epoch):
            at = np.flatnonzero(epoch == e)
            perm, ends = self._epoch(int(e))
            slot = np.searchsorted(ends, position[at], side="right")
            offset = position[at] - (ends[slot] - self.sizes[perm[slot]])
            blocks = perm[slot]
            for block in np.unique(blocks):
                here = blocks == block
                out[at[here]] = self.block_start[block] + \
                    self._inside(int(e), int(block))[offset[here]]
        return out
