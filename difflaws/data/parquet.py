"""Pre-tokenised parquet shards, optionally in weighted quality buckets (``pip install
'difflaws[parquet]'``).

Each row of a shard's ``column`` is one document's token ids.  A bucket's training split
is the stream of its shards' training rows (shards sorted by path, row groups and rows in
file order), each followed by the tokenizer's EOS, cut into ``seq_len`` windows exactly
as a flat ``.bin`` is (:mod:`difflaws.data.packing`: the same windows, the same document
ids).  It is never held in memory: windows are served through lanes
(:mod:`difflaws.data.lanes`) in block order (:mod:`difflaws.data.block_order`, a block
being the windows that start in one row group), and across buckets in a weighted mixture
(:mod:`difflaws.data.mixture`), all pure functions of the sequence number; a rank
decodes only the row groups of its lanes, a few at a time.

``data.unique_tokens`` caps the pool as for any kind: with buckets, each bucket's pool is
its share of the cap by weight (so every bucket repeats at the same rate).
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import numpy as np
import torch

from difflaws.data import parquet_index as index
from difflaws.data import tokens_file
from difflaws.data.block_order import BlockOrder
from difflaws.data.lanes import Lanes
from difflaws.data.lru import LRU
from difflaws.data.mixture import Mixture, apportion
from difflaws.data.packing import packed_batch
from difflaws.data.pool import KEY as POOL_KEY, pool_windows
from difflaws.data.source import DataSource
from difflaws.errors import UserError

TRAIN, HELD, ALL = "train", "held", "all"  # which rows of a shard a stream keeps
OPEN_FILES = 64


class ShardReader:
    """Decoded row groups, least recently used first out; open files likewise."""

    def __init__(self, column: str, eos_id: int, append_eos: bool, val_fraction: float,
                 where: str, capacity: int = 18):
        self.column, self.eos_id, self.append_eos = column, eos_id, append_eos
        self.val_fraction, self.where = val_fraction, where
        self.files = LRU(OPEN_FILES, evicted=lambda pf: pf.close())
        self.groups = LRU(capacity)

    def tokens(self, path, group: int, first_row: int, rows: str) -> np.ndarray:
        """Row group ``group`` of ``path`` as one flat int32 stream of its ``rows`` (train,
        held out, or all), each row followed by EOS."""
        return self.groups.get((path, group, rows),
                               lambda: self._decode(path, group, first_row, rows))

    def _decode(self, path, group: int, first_row: int, rows: str) -> np.ndarray:
        pf = self.files.get(path, lambda: index.open_shard(path, self.column, self.where))
        values, lengths = index.read_lists(pf, path, group, self.column, self.where)
        if rows != ALL and (self.val_fraction > 0 or rows == HELD):
            held = index.held_out_rows(Path(path).name, first_row, len(lengths),
                                       self.val_fraction)
            keep = held if rows == HELD else ~held
            values, lengths = values[np.repeat(keep, lengths)], lengths[keep]
        return flatten(values, lengths, self.eos_id if self.append_eos else None)


def flatten(values: np.ndarray, lengths: np.ndarray, eos_id) -> np.ndarray:
    """Rows back to back as int32, an EOS after each when ``eos_id`` is not None."""
    if eos_id is None:
        return values.astype(np.int32)
    out = np.empty(len(values) + len(lengths), dtype=np.int32)
    ends = np.cumsum(lengths + 1) - 1
    is_token = np.ones(len(out), dtype=bool)
    is_token[ends] = False
    out[is_token] = values
    out[ends] = eos_id
    return out


class ShardStream:
    """One bucket's (or the validation shards') rows as a virtual flat token stream."""

    def __init__(self, entries, rows: str, reader: ShardReader):
        self.reader, self.rows = reader, rows
        eos = 1 if reader.append_eos else 0
        self.groups, sizes = [], []
        for entry in entries:
            first_row = 0
            for g, grp in enumerate(entry["row_groups"]):
                if rows == TRAIN:
                    n_rows = grp["rows"] - grp["held_rows"]
                    n_tok = grp["tokens"] - grp["held_tokens"]
                elif rows == HELD:
                    n_rows, n_tok = grp["held_rows"], grp["held_tokens"]
                else:
                    n_rows, n_tok = grp["rows"], grp["tokens"]
                if n_rows:
                    self.groups.append((entry["path"], g, first_row))
                    sizes.append(n_tok + eos * n_rows)
                first_row += grp["rows"]
        self.starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
        self.n_tokens = int(self.starts[-1])

    def group_tokens(self, i: int) -> np.ndarray:
        return self.reader.tokens(*self.groups[i], self.rows)

    def copy(self, start: int, out: np.ndarray) -> None:
        """``out[:] =`` the stream's tokens from ``start`` on."""
        filled = 0
        i = int(np.searchsorted(self.starts, start, side="right")) - 1
        while filled < len(out):
            flat = self.group_tokens(i)
            lo = start + filled - int(self.starts[i])
            take = min(len(out) - filled, len(flat) - lo)
            out[filled:filled + take] = flat[lo:lo + take]
            filled += take
            i += 1

    def prefix(self, n_tokens: int) -> np.ndarray:
        """The stream's first ``n_tokens`` tokens (all of it if shorter), in memory."""
        parts, have = [], 0
        for i in range(len(self.groups)):
            if have >= n_tokens:
                break
            flat = self.group_tokens(i)[:n_tokens - have]
            parts.append(flat)
            have += len(flat)
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)

    def block_sizes(self, seq_len: int, n_windows: int) -> np.ndarray:
        """Windows per row group: those whose first token lies in it, of the first
        ``n_windows``."""
        first = np.minimum(-(-self.starts // seq_len), n_windows)
        first[-1] = n_windows
        return np.diff(first)


class ParquetWindows:
    """The training windows of one or more bucket streams, by lane, block and mixture."""

    def __init__(self, streams, pools, weights, seq_len: int, eos_id: int, seed: int,
                 batch_size: int, lanes: int, identity: str, names):
        self.streams, self.pools = streams, [int(p) for p in pools]
        self.seq_len, self.eos_id, self.seed = seq_len, eos_id, seed
        self.lanes = Lanes(batch_size, lanes)
        self.orders = []
        for b, (stream, pool) in enumerate(zip(streams, self.pools)):
            order = BlockOrder(stream.block_sizes(seq_len, pool), self.lanes.width, seed, salt=b)
            if order.starved_lanes():
                raise UserError(f"{names[b]}: the training pool has {pool:,} windows of "
                                f"train.seq_len = {seq_len}, too few to give each of its "
                                f"{self.lanes.count} lanes one; lower data.lanes (or use more "
                                "data)")
            self.orders.append(order)
        self.mixture = Mixture(weights, seed) if len(streams) > 1 else None
        if self.mixture is not None and (self.mixture.counts == 0).any():
            b = int(np.flatnonzero(self.mixture.counts == 0)[0])
            raise UserError(f"{names[b]}.weight is below 1/{self.mixture.round_size}"
                            " of the total weight, too small to draw from; raise it or drop "
                            "the bucket")
        self.split_windows = sum(s.n_tokens // seq_len for s in streams)
        self.n_windows = sum(self.pools)
        self.pool_tokens = self.n_windows * seq_len
        self.identity = identity
        self.consumed = 0
        self._lock = threading.Lock()

    def shard(self, columns: range) -> None:
        """Read for batch rows ``columns`` only: each lane they touch reads a block (and,
        for the windows that run past its end, the next row group) of each bucket."""
        lanes = max(1, len(self.lanes.lanes_of(columns)))
        for s in self.streams:
            s.reader.groups.capacity = 2 * lanes + 2

    def windows_of(self, first: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """``(bucket, window)`` of sequences ``first .. first+count-1``."""
        lane, n = self.lanes.locate(first, count)
        bucket, window = np.zeros(count, dtype=np.int64), np.empty(count, dtype=np.int64)
        for l in np.unique(lane):
            at = np.flatnonzero(lane == l)
            if self.mixture is None:
                items = n[at]
            else:
                bucket[at], items = self.mixture.locate(int(l), n[at])
            for b in np.unique(bucket[at]):
                here = at[bucket[at] == b]
                window[here] = self.orders[b].windows(int(l), items[bucket[at] == b])
        return bucket, window

    def batch_at(self, first: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Sequences ``first .. first+count-1`` as (tokens, doc_ids), both int64 [count, T]."""
        T = self.seq_len
        with self._lock:
            bucket, window = self.windows_of(first, count)
            flat = np.empty(count * T, dtype=np.int64)
            for i in range(count):
                self.streams[bucket[i]].copy(int(window[i]) * T, flat[i * T:(i + 1) * T])
        return packed_batch(flat, np.arange(count, dtype=np.int64) * T, T, self.eos_id)

    # -- the data position -----------------------------------------------------------------
    def state_at(self, consumed: int, reduce=None) -> dict:
        return {"consumed": int(consumed), "seed": self.seed, "n_windows": self.n_windows,
                "split_windows": self.split_windows, "corpus": self.identity,
                "lanes": self.lanes.count, "batch_size": self.lanes.batch_size,
                "pools": list(self.pools)}

    def state_dict(self) -> dict:
        return self.state_at(self.consumed)

    def load_state_dict(self, state: dict) -> None:
        mine = self.state_dict()
        wrong = [k for k in mine if k != "consumed" and state.get(k) != mine[k]]
        if wrong:
            raise UserError(f"the checkpoint's data position belongs to another parquet corpus "
                            f"or layout ({', '.join(wrong)} differ: another data table, seed, "
                            "train.batch_size or data.unique_tokens); start a new run directory")
        self.consumed = int(state["consumed"])


class ParquetSource(DataSource):
    def __init__(self, buckets: dict, column: str = "tokens", val_fraction: float = 0.01,
                 val_paths=(), val_max_tokens: int = 1 << 23, append_eos: bool = True,
                 lanes: int = 8):
        """``buckets``: name → (globs, weight); a single unnamed corpus is one bucket whose
        name is the key path of its globs (``data.paths``)."""
        index.import_pyarrow()
        self.names = list(buckets)
        self.shards = {name: index.find_shards(globs, name) for name, (globs, _) in buckets.items()}
        self.weights = [float(w) for _, w in buckets.values()]
        self.val_shards = index.find_shards(val_paths, "data.val_paths") if val_paths else []
        self.column, self.append_eos, self.lanes = column, append_eos, lanes
        # separate validation shards: the training shards hold nothing out
        self.val_fraction = 0.0 if val_paths else val_fraction
        self.val_max_tokens = val_max_tokens
        seen: dict = {}
        for name, shards in [*self.shards.items(), ("data.val_paths", self.val_shards)]:
            for path in shards:
                if path in seen:
                    raise UserError(f"{name}: {path} is also in {seen[path]}; a shard belongs "
                                    "to one bucket (or to validation); remove it from one")
                seen[path] = name

    def has_text(self) -> bool:
        return False

    def texts(self, split=None, limit_bytes=None):
        return None

    def fingerprint(self) -> str:
        """Changes with any shard (path, size, mtime) or option: the validation cache's key."""
        h = hashlib.sha256()
        for name, shards, weight in zip(self.names, self.shards.values(), self.weights):
            h.update(f"{name}|{weight!r}|{index.fingerprint(shards)}\n".encode())
        h.update(f"{index.fingerprint(self.val_shards)}|{self.column}|{self.val_fraction!r}|"
                 f"{self.append_eos}|{self.val_max_tokens}".encode())
        return "parquet|" + h.hexdigest()

    def identity(self, streams) -> str:
        """What the training windows depend on, but not where the shards lie or when they
        were copied: a checkpoint resumes on another machine's copy of the corpus."""
        h = hashlib.sha256(f"{self.column}|{self.val_fraction!r}|{self.append_eos}".encode())
        for name, shards, weight, stream in zip(self.names, self.shards.values(),
                                                self.weights, streams):
            files = [(p.name, p.stat().st_size) for p in shards]
            h.update(f"{name}|{weight!r}|{files}|{stream.n_tokens}\n".encode())
        return h.hexdigest()[:32]

    # -- building ------------------------------------------------------------------------------
    def _reader(self, tokenizer, where: str) -> ShardReader:
        return ShardReader(self.column, tokenizer.eos_id, self.append_eos, self.val_fraction, where)

    def _streams(self, tokenizer, cache_dir, rows: str) -> list[ShardStream]:
        out = []
        for name, shards in self.shards.items():
            entries = index.load_index(shards, self.column, self.val_fraction, cache_dir, name)
            index.check_ids(entries, tokenizer.vocab_size, name)
            out.append(ShardStream(entries, rows, self._reader(tokenizer, name)))
        return out

    def stream(self, split, tokenizer, cache_dir) -> np.ndarray:
        """The validation split, in memory (at most ``val_max_tokens``, shared among the
        buckets by weight) and cached; training is served by :meth:`train_windows`."""
        if split == "train":
            raise ValueError("the parquet kind serves its training split by train_windows()")
        path = self.cache_path(split, tokenizer, cache_dir)
        if not tokens_file.exists(path):
            if self.val_shards:
                where = "data.val_paths"
                entries = index.load_index(self.val_shards, self.column, 0.0, cache_dir, where)
                index.check_ids(entries, tokenizer.vocab_size, where)
                streams = [ShardStream(entries, ALL, self._reader(tokenizer, where))]
                shares = [self.val_max_tokens]
            else:
                streams = self._streams(tokenizer, cache_dir, HELD)
                shares = apportion(self.weights, self.val_max_tokens)
            flat = np.concatenate([s.prefix(int(n)) for s, n in zip(streams, shares)])
            tokens_file.write(path, flat, vocab_size=tokenizer.vocab_size,
                              eos_id=tokenizer.eos_id, tokenizer=tokenizer.name)
        return tokens_file.read(path, where=f"data.{split}")

    def train_windows(self, tokenizer, cache_dir, seq_len: int, seed: int, unique_tokens: int,
                      batch_size: int) -> ParquetWindows:
        streams = self._streams(tokenizer, cache_dir, TRAIN)
        pools = self.pools(streams, seq_len, unique_tokens)
        return ParquetWindows(streams, pools, self.weights, seq_len, tokenizer.eos_id, seed,
                              batch_size, self.lanes, self.identity(streams), self.names)

    def pools(self, streams, seq_len: int, unique_tokens: int) -> list[int]:
        """Each bucket's pool in windows: its whole split, or its share of the cap."""
        if len(streams) == 1:
            n = streams[0].n_tokens
            if n < seq_len:
                raise UserError(f"{self.names[0]}: the training split has {n:,} tokens, fewer "
                                f"than one sequence of train.seq_len = {seq_len}; use more "
                                "data or a shorter seq_len")
            return [pool_windows(unique_tokens, seq_len, n) or n // seq_len]
        shares = apportion(self.weights, unique_tokens) if unique_tokens else \
            [s.n_tokens for s in streams]
        out = []
        for name, stream, share in zip(self.names, streams, shares):
            if share < seq_len or share > stream.n_tokens:
                raise UserError(f"{POOL_KEY} = {unique_tokens:,} gives {name} a share of "
                                f"{share:,} tokens by weight, but its training split has "
                                f"{stream.n_tokens:,} and a sequence is train.seq_len = "
                                f"{seq_len}; change the cap or the weights (or use more data)"
                                if unique_tokens else
                                f"{name}: the training split has {stream.n_tokens:,} tokens, "
                                f"fewer than one sequence of train.seq_len = {seq_len}; use "
                                "more data or a shorter seq_len")
            out.append(int(share) // seq_len)
        return out
