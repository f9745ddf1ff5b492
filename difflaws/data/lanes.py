"""Lanes: a step's batch rows dealt to independent reading streams.

A step's ``B`` sequences are columns ``0 .. B-1`` (sequence ``k`` of the run is column
``k mod B`` of step ``k // B``).  The columns are grouped into ``L`` lanes of contiguous
columns, lane ``l`` holding ``[⌊lB/L⌋, ⌊(l+1)B/L⌋)``; each lane is read as a stream of
its own, sequence ``k`` being item ``n = (k // B)·w_l + (c − c_l)`` of its lane (``w_l``
its width, ``c_l`` its first column).

A rank trains on contiguous rows (:mod:`difflaws.distributed.batches`), so it reads only
the lanes its rows fall in: disjoint lanes whenever the world size divides ``L``.  The
layout depends on ``B`` and ``L`` alone, never on the world size, so every world size
sees the same sequences and a run resumes at any of them.
"""

from __future__ import annotations

import numpy as np


class Lanes:
    def __init__(self, batch_size: int, lanes: int):
        self.batch_size = batch_size
        self.count = max(1, min(lanes, batch_size))  # a lane needs a column
        L, B = self.count, batch_size
        self.first_column = np.array([l * B // L for l in range(L + 1)], dtype=np.int64)
        self.width = np.diff(self.first_column)
        self.lane_of_column = np.repeat(np.arange(L, dtype=np.int64), self.width)

    def locate(self, first: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """``(lane, n)`` of sequences ``first .. first+count-1``."""
        k = np.arange(first, first + count, dtype=np.int64)
        step, column = np.divmod(k, self.batch_size)
        lane = self.lane_of_column[column]
        return lane, step * self.width[lane] + column - self.first_column[lane]

    def sequence(self, lane: int, n) -> np.ndarray:
        """The run's sequence number of item ``n`` of ``lane`` (the inverse of :meth:`locate`)."""
        step, within = np.divmod(np.asarray(n, dtype=np.int64), self.width[lane])
        return step * self.batch_size + self.first_column[lane] + within

    def consumed_in(self, lane: int, consumed: int) -> int:
        """How many items of ``lane`` the first ``consumed`` sequences of the run hold."""
        step, column = divmod(consumed, self.batch_size)
        lo = self.first_column[lane]
        return int(step * self.width[lane] + min(max(column - lo, 0), self.width[lane]))

    def lanes_of(self, columns: range) -> list[int]:
        """The lanes that columns ``columns`` (a rank's rows) fall in."""
        if not len(columns):
            return []
        return sorted(set(self.lane_of_column[list(columns)].tolist()))

    def leads(self, lane: int, columns: range) -> bool:
        """Whether ``columns`` hold ``lane``'s first column: exactly one rank leads each
        lane, and reports its position (several ranks may read a lane)."""
        return int(self.first_column[lane]) in columns
