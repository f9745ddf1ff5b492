"""The batches a rank trains on: only its own rows, read ahead, on its device.

Each step's global batch is cut into micro-batch chunks as the trainer weights them, the
same on every rank.  A rank reads only its rows of each chunk (rank ``r`` of ``W`` owns
rows ``[r·B/W, (r+1)·B/W)``, :mod:`difflaws.distributed.batches`) from the training
windows, ahead of the step in a background thread (:mod:`difflaws.data.prefetch`), into
pinned memory when it trains on CUDA, and copies them to the device without blocking.
The rows of a chunk it does not train on are stand-ins (zeros): the objective draws the
noise of the whole chunk from them, so the noise generator advances exactly as in one
process, and those rows are dropped before the forward pass.  (Every objective's draws
depend on a batch's shape, not on its token values; tests/test_streaming.py checks the
built-in ones.)

Training windows are any object with ``seq_len``, ``consumed``, ``shard(columns)``,
``batch_at(first, count)`` (sequences ``first .. first+count-1`` as int64 tokens and
document ids) and ``state_at(consumed, reduce)``, and, for the trainer,
``load_state_dict(state)`` and ``pool_tokens`` (the tokens a run repeats, None when
unknown; :mod:`difflaws.data.pool`): :class:`difflaws.data.packing.PackedSequences`,
:class:`difflaws.data.parquet.ParquetWindows`, :class:`difflaws.data.lane_streams.LaneStreams`.

The data position a checkpoint stores is the number of sequences the trainer has *taken*,
not read: batches read ahead but not trained on are read again after a resume.
"""

from __future__ import annotations

import torch

from difflaws.data.prefetch import Prefetcher

PREFETCH_STEPS = 2


class BatchLoader:
    def __init__(self, windows, batch_size: int, micro_batch_size: int, rank: int,
                 world_size: int, device, depth: int = PREFETCH_STEPS):
        per_rank = batch_size // world_size
        self.mine = range(rank * per_rank, (rank + 1) * per_rank)
        micro = micro_batch_size or batch_size
        self.chunks = [(first, min(micro, batch_size - first))
                       for first in range(0, batch_size, micro)]
        self.windows, self.batch_size = windows, batch_size
        self.device = torch.device(device)
        self.pin = self.device.type == "cuda" and torch.cuda.is_available()
        self.start = self.consumed = int(windows.consumed)
        windows.shard(self.mine)
        self.prefetcher = Prefetcher(self.read, depth)

    def read(self, i: int) -> list:
        """This rank's rows of step ``i`` (counted from the loader's start), on the host:
        per chunk ``(rows, lo, hi, tokens, doc_ids)``, its rows ``lo:hi`` being ours."""
        base = self.start + i * self.batch_size
        out = []
        for first, rows in self.chunks:
            lo, hi = max(first, self.mine.start), min(first + rows, self.mine.stop)
            x = doc_ids = None
            if lo < hi:
                x, doc_ids = self.windows.batch_at(base + lo, hi - lo)
                if self.pin:
                    x, doc_ids = x.pin_memory(), doc_ids.pin_memory()
            out.append((rows, lo - first, hi - first, x, doc_ids))
        return out

    def next_step(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The next step's chunks as ``(tokens, doc_ids)`` of the chunk's full shape."""
        out = []
        for rows, lo, hi, x, doc_ids in self.prefetcher.next():
            out.append((self._placed(x, rows, lo, hi), self._placed(doc_ids, rows, lo, hi)))
        self.consumed += self.batch_size
        return out

    def _placed(self, local, rows: int, lo: int, hi: int) -> torch.Tensor:
        if local is not None and hi - lo == rows:
            return local.to(self.device, non_blocking=self.pin)
        full = torch.zeros(rows, self.windows.seq_len, dtype=torch.int64, device=self.device)
        if local is not None:
            full[lo:hi] = local.to(self.device, non_blocking=self.pin)
        return full

    def state_dict(self, reduce=None) -> dict:
        """The position after the batches taken; ``reduce`` sums a tensor over ranks."""
        return self.windows.state_at(self.consumed, reduce)

    def close(self) -> None:
        self.prefetcher.close()
