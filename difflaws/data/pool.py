"""The training pool: the windows a run repeats, and what repeating them amounts to.

``data.unique_tokens = U > 0`` caps the distinct tokens a run trains on: the pool is the
first ⌊U / seq_len⌋ windows of the training split, visited once per epoch in an order
drawn from ``(seed, epoch)`` (:mod:`difflaws.data.packing`), for as many epochs as the
run's steps need.  ``U = 0`` pools the whole split, so a long run on a small split
repeats too, and is recorded the same way.  The validation split is a stream of its
own and never enters the pool.

Scaling-law fits of data-constrained runs read two figures of a run that has trained on
``tokens`` tokens from a pool of ``pool_tokens``: the distinct tokens it saw,
``min(tokens, pool_tokens)`` (every window of an epoch is served once, so a partial
epoch sees as many distinct tokens as it trains on), and the epochs,
``tokens / pool_tokens``.

Nothing here imports torch or numba: ``validate`` and ``run --dry-run`` use it.
"""

from __future__ import annotations

from difflaws.errors import UserError

KEY = "data.unique_tokens"


def pool_windows(unique_tokens: int, seq_len: int, split_tokens: int | None = None) -> int:
    """Windows of ``seq_len`` in the pool ``unique_tokens`` asks for; 0: the whole split.

    ``split_tokens`` (the training split's length, once it is built) is checked too; a cap
    shorter than one sequence, or longer than the split, is a UserError."""
    if unique_tokens == 0:
        return 0
    if unique_tokens < seq_len:
        raise UserError(f"{KEY} = {unique_tokens:,} is less than one sequence of train.seq_len "
                        f"= {seq_len:,} tokens; set it to at least {seq_len} (or to 0: no cap)")
    if split_tokens is not None and unique_tokens > split_tokens:
        raise UserError(f"{KEY} = {unique_tokens:,} is more than the training split's "
                        f"{split_tokens:,} tokens; lower it to at most {split_tokens} (or set "
                        "it to 0 to train on the whole split), or use more data")
    return unique_tokens // seq_len


def coverage(tokens: int, pool_tokens: int | None) -> dict:
    """The distinct tokens a run trained on ``tokens`` tokens of the pool saw, and its
    epochs (a float).  A pool of unknown size (None: a source streamed without a cap) is
    taken as never repeated: every token distinct, epochs unknown (None)."""
    if pool_tokens is None:
        return {"unique_tokens": tokens, "epochs": None}
    return {"unique_tokens": min(tokens, pool_tokens), "epochs": tokens / pool_tokens}


def planned(spec) -> dict | None:
    """The pool and the epochs a spec's planned steps imply, without building the data;
    None when that needs the data (no cap: the pool is the split, whatever its size).
    A cap the spec alone can refuse (shorter than one sequence) is refused here."""
    t = spec.train
    windows = pool_windows(spec.data.unique_tokens, t.seq_len)
    if windows == 0:
        return None
    tokens = t.steps * t.batch_size * t.seq_len
    pool_tokens = windows * t.seq_len
    return {"pool_tokens": pool_tokens, "planned_tokens": tokens,
            **coverage(tokens, pool_tokens)}
