"""Flat token files: a raw little-endian uint16/uint32 array plus a JSON sidecar.

``NAME.bin`` holds the ids back to back (nanoGPT's layout: no header, so it
memory-maps directly); ``NAME.bin.json`` describes it::

    {"format": "difflaws-tokens", "version": 1, "dtype": "uint16" | "uint32",
     "n_tokens": int, "vocab_size": int, "eos_id": int, "tokenizer": str}

Documents are separated by ``eos_id``.  The sidecar is written last, so a
``.bin`` without one is an unfinished write and is redone.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from difflaws import atomic
from difflaws.errors import UserError

FORMAT = "difflaws-tokens"


def sidecar(path) -> Path:
    return Path(str(path) + ".json")


def dtype_for(vocab_size: int) -> str:
    return "uint16" if vocab_size <= 2**16 else "uint32"


def exists(path) -> bool:
    return Path(path).is_file() and sidecar(path).is_file()


def write(path, ids: np.ndarray, vocab_size: int, eos_id: int, tokenizer: str) -> None:
    dtype = dtype_for(vocab_size)
    little_endian = np.dtype(dtype).newbyteorder("<")
    atomic.write_bytes(path, np.ascontiguousarray(ids, dtype=little_endian).tobytes())
    atomic.write_json(sidecar(path), {"format": FORMAT, "version": 1, "dtype": dtype,
                                      "n_tokens": int(len(ids)), "vocab_size": int(vocab_size),
                                      "eos_id": int(eos_id), "tokenizer": tokenizer})


def read_meta(path, where: str = "data.path") -> dict:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{where}: token file {path} not found; check the path")
    side = sidecar(path)
    if not side.is_file():
        raise UserError(f"{where}: {path} has no sidecar {side.name}; write one with keys "
                        "dtype, vocab_size, eos_id, tokenizer (see difflaws.data.tokens_file)")
    try:
        meta = json.loads(side.read_text())
        np.dtype(meta["dtype"])
        int(meta["vocab_size"]), int(meta["eos_id"])
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{where}: sidecar {side} is malformed ({exc!r}); it needs dtype, "
                        "vocab_size and eos_id") from None
    if meta["dtype"] not in ("uint16", "uint32"):
        raise UserError(f"{where}: sidecar {side}: dtype must be uint16 or uint32")
    return meta


def read(path, where: str = "data.path") -> np.ndarray:
    meta = read_meta(path, where)
    dtype = np.dtype(meta["dtype"]).newbyteorder("<")
    size = Path(path).stat().st_size
    if size % dtype.itemsize:  # a copy cut short, or the sidecar names the wrong dtype
        raise UserError(f"{where}: {path} holds {size} bytes, not a whole number of "
                        f"{meta['dtype']} ids; re-copy the file or fix the dtype in "
                        f"{sidecar(path).name}")
    if size == 0:
        return np.zeros(0, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r")
