"""The parquet corpus's shards and their index: row groups, rows and tokens, built once.

Shards are ``.parquet`` files named by globs or directories.  Reading is by row group
(pyarrow's unit of reading), one at a time, never the whole corpus.  The index records,
per shard, each row group's rows, tokens, the rows and tokens held out for validation,
and the smallest and largest token id (to check them against the tokenizer before a
step is taken).  Building it reads every row group once; it is cached in the workspace
cache directory under a fingerprint of the shards (resolved paths, sizes, mtimes) and of
what it depends on, so later runs, and resumed ones, only read the cache.

Validation rows are held out by a hash of (shard file name, row number): independent of
the seed, of the other shards, and of the shards' order (cf. ``difflaws.data.source.held_out``).
"""

from __future__ import annotations

import glob
import hashlib
import json
import zlib
from pathlib import Path

import numpy as np

from difflaws import atomic
from difflaws.errors import UserError

VERSION = 1
SUFFIX = ".parquet"
HELD = 2 ** 64


def import_pyarrow():
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise UserError("data kind 'parquet' needs the `pyarrow` package: "
                        "pip install 'difflaws[parquet]'") from None
    return pyarrow


def find_shards(patterns, where: str) -> list[Path]:
    """The ``.parquet`` files that globs or directories name, sorted, each once."""
    found: list[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(str(Path(pattern).expanduser()), recursive=True))
        files = []
        for m in map(Path, matches):
            if m.is_dir():
                files += sorted(p for p in m.rglob(f"*{SUFFIX}") if p.is_file())
            elif m.is_file():
                files.append(m)
        if not files:
            raise UserError(f"{where}: {pattern!r} matches no {SUFFIX} shard; check the path "
                            f"(a directory, or globs such as data/*{SUFFIX}, are allowed)")
        found += files
    unique = sorted({p.resolve() for p in found})
    return unique


def stat_line(path: Path) -> str:
    st = path.stat()
    return f"{path}|{st.st_size}|{st.st_mtime_ns}"


def fingerprint(shards, *options) -> str:
    h = hashlib.sha256(f"parquet-index-v{VERSION}|{options!r}\n".encode())
    for path in shards:
        h.update((stat_line(path) + "\n").encode())
    return h.hexdigest()


def held_out_rows(name: str, first_row: int, n_rows: int, val_fraction: float) -> np.ndarray:
    """Which rows ``first_row ..`` of shard ``name`` are validation rows (splitmix64 of the
    file name's CRC and the row number)."""
    if val_fraction <= 0:
        return np.zeros(n_rows, dtype=bool)
    x = (np.uint64(zlib.crc32(name.encode("utf-8"))) << np.uint64(32)) + \
        np.arange(first_row, first_row + n_rows, dtype=np.uint64)
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return x < np.uint64(min(int(val_fraction * HELD), HELD - 1))


def open_shard(path: Path, column: str, where: str):
    """The shard's ``ParquetFile``, its column checked: present, a list of integers."""
    pa = import_pyarrow()
    try:
        pf = pa.parquet.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise UserError(f"{where}: {path} is not a readable parquet file ({exc}); "
                        "re-copy or remove it") from None
    schema = pf.schema_arrow
    if schema.get_field_index(column) < 0:
        raise UserError(f"{where}: {path} has no column {column!r} (its columns: "
                        f"{', '.join(schema.names) or 'none'}); set data.column to the one "
                        "that holds the token ids")
    tp = schema.field(column).type
    if not ((pa.types.is_list(tp) or pa.types.is_large_list(tp))
            and pa.types.is_integer(tp.value_type)):
        raise UserError(f"{where}: {path}: column {column!r} is {tp}, not a list of integer "
                        "token ids; point data.column at the pre-tokenised column")
    return pf


def read_lists(pf, path, row_group: int, column: str, where: str) -> tuple[np.ndarray, np.ndarray]:
    """``(values, lengths)`` of one row group's lists (a null row is an empty one)."""
    pa = import_pyarrow()
    import pyarrow.compute as pc

    try:
        arr = pf.read_row_group(row_group, columns=[column]).column(0).combine_chunks()
    except (pa.ArrowException, OSError) as exc:
        raise UserError(f"{where}: cannot read row group {row_group} of {path} ({exc}); "
                        "re-copy the shard") from None
    lengths = pc.list_value_length(arr).fill_null(0).to_numpy(zero_copy_only=False)
    flat = arr.flatten()
    if flat.null_count:  # numpy would make the ids floats, the null a NaN
        raise UserError(f"{where}: {path} (row group {row_group}) has a null inside a row of "
                        f"column {column!r}; token ids must all be integers: drop or fix those "
                        "rows")
    values = flat.to_numpy(zero_copy_only=False)
    return values, lengths.astype(np.int64)


def index_shard(path: Path, column: str, val_fraction: float, where: str) -> dict:
    groups, first_row = [], 0
    with open_shard(path, column, where) as pf:
        for g in range(pf.num_row_groups):
            values, lengths = read_lists(pf, path, g, column, where)
            held = held_out_rows(path.name, first_row, len(lengths), val_fraction)
            first_row += len(lengths)
            groups.append({"rows": int(len(lengths)), "tokens": int(lengths.sum()),
                           "held_rows": int(held.sum()), "held_tokens": int(lengths[held].sum()),
                           "min_id": int(values.min()) if len(values) else 0,
                           "max_id": int(values.max()) if len(values) else 0})
    return {"path": str(path), "row_groups": groups}


def load_index(shards, column: str, val_fraction: float, cache_dir, where: str) -> list[dict]:
    """Every shard's index entry, from the cache or (once) by reading the shards."""
    key = fingerprint(shards, column, val_fraction)
    path = Path(cache_dir) / f"parquet-index-{key[:20]}.json"
    if path.is_file():
        try:
            cached = json.loads(path.read_text())
            if cached.get("fingerprint") == key:
                return cached["shards"]
        except (ValueError, KeyError, AttributeError):
            pass  # a damaged cache (not JSON, or not the index's object) is rebuilt
    entries = [index_shard(p, column, val_fraction, where) for p in shards]
    atomic.write_json(path, {"version": VERSION, "fingerprint": key, "shards": entries})
    return entries


def check_ids(entries, vocab_size: int, where: str) -> None:
    """Refuse a shard holding an id the tokenizer cannot embed."""
    for entry in entries:
        for g, group in enumerate(entry["row_groups"]):
            if group["min_id"] < 0 or group["max_id"] >= vocab_size:
                bad = group["min_id"] if group["min_id"] < 0 else group["max_id"]
                raise UserError(f"{where}: {entry['path']} (row group {g}) holds token id "
                                f"{bad}, outside the tokenizer's vocabulary of {vocab_size:,} "
                                "(ids 0 to vocab_size - 1); use the tokenizer the shards were "
                                "made with, or set its vocab_size")
