"""Which rows of each step's global batch a rank trains on.

Rank r owns the contiguous rows ``[r·B/W, (r+1)·B/W)`` of every step, and reads
only those from the data (:mod:`difflaws.data.loader`), in the order a single
process would serve them.  The noise it still draws for whole chunks, as a
single process would (same generator, chunk by chunk), from stand-in tokens in
the rows it did not read: O(B·T) cheap random draws, negligible beside the
model.  Hence two properties: a W-process run sees the very same numbers as a
one-process run with the same spec, and the data/noise state in a checkpoint is
the same on every rank, so a run resumes at any world size.
"""

from __future__ import annotations

import attrs
import torch

from difflaws.errors import UserError


def check_split(batch_size: int, micro_batch_size: int, world_size: int) -> int:
    """Sequences per rank per step; refuses a split that leaves partial micro-batches."""
    per_rank, rest = divmod(batch_size, world_size)
    if rest or per_rank == 0:
        raise UserError(
            f"{world_size} processes cannot share train.batch_size = {batch_size} sequences "
            f"evenly; launch a number of processes that divides {batch_size}, or change "
            "train.batch_size (the global batch stays what the spec says at any world size)")
    # one process may end on a short micro-batch; ranks must not, or they would split a chunk
    if world_size > 1 and micro_batch_size and per_rank % micro_batch_size:
        raise UserError(
            f"with {world_size} processes each trains on {per_rank} of train.batch_size = "
            f"{batch_size} sequences, not a whole number of train.micro_batch_size = "
            f"{micro_batch_size} micro-batches; use a world size that divides "
            f"{batch_size // micro_batch_size} (the number of micro-batches), or change "
            "train.micro_batch_size")
    return per_rank


def take_rows(obj, lo: int, hi: int, rows: int):
    """``obj`` restricted to batch rows ``lo:hi``: tensors with ``rows`` leading rows are sliced,
    attrs instances and dicts field by field, anything else is kept."""
    if isinstance(obj, torch.Tensor):
        return obj[lo:hi] if obj.dim() > 0 and obj.shape[0] == rows else obj
    if attrs.has(type(obj)):
        return attrs.evolve(obj, **{f.name: take_rows(getattr(obj, f.name), lo, hi, rows)
                                    for f in attrs.fields(type(obj)) if f.init})
    if isinstance(obj, dict):
        return {k: take_rows(v, lo, hi, rows) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return tuple(take_rows(v, lo, hi, rows) for v in obj)
    return obj


def local_chunks(chunks, rank: int, world_size: int):
    """This rank's part of a step's drawn chunks, each a tuple whose first item is the
    [rows, T] token tensor; chunks (or parts of one) owned by other ranks are dropped."""
    total = sum(c[0].shape[0] for c in chunks)
    per_rank = total // world_size
    mine_lo, mine_hi = rank * per_rank, (rank + 1) * per_rank
    out, start = [], 0
    for chunk in chunks:
        rows = chunk[0].shape[0]
        lo, hi = max(mine_lo, start), min(mine_hi, start + rows)
        if lo < hi:
            out.append(chunk if hi - lo == rows else take_rows(chunk, lo - start, hi - start, rows))
        start += rows
    return out
