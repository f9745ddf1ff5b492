"""Checkpoint directories: ``<run>/checkpoints/step-00001234/``.

Each holds ``manifest.json`` (step and the sha256 of every other file in the
directory) next to the checkpoint's files.  This module writes the
single-process kind: ``model.safetensors`` (weights) and ``state.pt``
(optimizer, RNG, schedule and data position: a dict of tensors and plain
values, loaded with ``weights_only=True``); :mod:`difflaws.distributed.checkpoints`
writes the sharded kind in the same layout.  A checkpoint is written into a
hidden ``.tmp-step-…`` directory, fsynced, then renamed into place, so a reader
sees all of it or none of it; only the newest ``keep`` are kept, and the
temporary directories of saves a kill interrupted are removed by the next run.

A run directory is input like any other: before anything else in a checkpoint
is read, :func:`verify` checks that its files are exactly those the manifest
lists, each with its checksum.  A checkpoint that fails is reported and the
previous one is used instead (:func:`newest`).
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from difflaws.errors import UserError

DIR = "checkpoints"
PREFIX = "step-"
TMP_PREFIX = f".tmp-{PREFIX}"
MANIFEST = "manifest.json"
FILES = ("model.safetensors", "state.pt")


class CheckpointError(UserError):
    """Writing a checkpoint failed (disk full, permissions); the previous one is intact."""


class DamagedCheckpoint(ValueError):
    """A checkpoint that is incomplete, altered or refused; the previous one is used instead."""


def step_dir(run_dir, step: int) -> Path:
    return Path(run_dir) / DIR / f"{PREFIX}{step:08d}"


def listing(run_dir) -> list[Path]:
    """Complete-looking checkpoint directories, newest first."""
    root = Path(run_dir) / DIR
    if not root.is_dir():
        return []
    dirs = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(PREFIX)
            and p.name[len(PREFIX):].isdigit()]
    return sorted(dirs, key=lambda p: int(p.name[len(PREFIX):]), reverse=True)


def clear_leftovers(run_dir) -> None:
    """Remove the ``.tmp-step-…`` directories of saves that a kill interrupted."""
    root = Path(run_dir) / DIR
    if not root.is_dir():
        return
    for p in root.iterdir():
        # a link is never ours to delete, nor is whatever it points at
        if p.name.startswith(TMP_PREFIX) and p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):  # shards can be far larger than memory
            digest.update(block)
    return digest.hexdigest()


def write_file(path: Path, data: bytes) -> None:
    """The one place checkpoint bytes reach the disk (tests inject failures here)."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def write_manifest(path: Path, manifest: dict) -> None:
    write_file(path / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True).encode())


def inventory(path: Path) -> list[str]:
    """Every file under ``path`` but the manifest, as sorted relative POSIX names."""
    names = []
    for root, dirs, files in os.walk(path):  # does not descend into linked directories
        for entry in (Path(root, name) for name in dirs + files):
            # a link could make a checkpoint read (and vouch for) any file on the machine
            if entry.is_symlink() or not (entry.is_dir() or entry.is_file()):
                raise DamagedCheckpoint(f"{entry} is a link or special file; a checkpoint "
                                        "holds plain files only")
            if entry.is_file():
                names.append(entry.relative_to(path).as_posix())
    return sorted(set(names) - {MANIFEST})


def read_manifest(path: Path) -> dict:
    where = Path(path) / MANIFEST
    try:
        manifest = json.loads(where.read_text())
        int(manifest["step"])
        sums = manifest["sha256"]
        if not all(isinstance(v, str) for v in sums.values()):
            raise ValueError("a checksum is not a string")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DamagedCheckpoint(f"{where} is missing or malformed ({exc})") from None
    return manifest


def verify(path: Path, share: slice = slice(None)) -> dict:
    """The manifest of ``path``, once its files are exactly those it lists and each of them
    (or this rank's ``share`` of them, in sorted order) matches its sha256."""
    path = Path(path)
    manifest = read_manifest(path)
    listed, present = sorted(manifest["sha256"]), inventory(path)
    odd = sorted(set(listed) ^ set(present))
    if odd:
        why = "is not listed in" if odd[0] in present else "is missing but listed in"
        raise DamagedCheckpoint(f"{path / odd[0]} {why} {path / MANIFEST}")
    for name in listed[share]:
        if file_sha256(path / name) != manifest["sha256"][name]:
            raise DamagedCheckpoint(f"{path / name} fails its sha256 check")
    return manifest


def newest(run_dir, read, warn=None, rename: bool = False, fix: str | None = None):
    """``read(path)`` of the newest checkpoint it succeeds on.  A checkpoint it fails on
    (damaged, altered, refused: any error but a UserError) is reported through ``warn`` and,
    with ``rename``, renamed ``.damaged-step-…`` for inspection.  When none succeeds: None,
    or with ``fix`` a UserError naming what was wrong and how to fix it."""
    warn = warn or (lambda msg: print(msg, file=sys.stderr))
    damage = []
    for path in listing(run_dir):
        try:
            return read(path)
        except UserError:
            raise
        except Exception as exc:  # truncated, bad checksum, unreadable, refused metadata
            damage.append(str(exc))
            warn(f"difflaws: checkpoint {path} is unusable ({exc}); using the previous one")
            if rename:
                path.rename(path.with_name(f".damaged-{path.name}"))
    if fix is None:
        return None
    why = f"no usable checkpoint: {damage[0]}" if damage else "no checkpoint yet"
    raise UserError(f"{run_dir} has {why}; {fix}")


def encode(model_state: dict, state: dict) -> dict[str, bytes]:
    weights = {k: v.detach().contiguous().cpu() for k, v in model_state.items()}
    buf = io.BytesIO()
    torch.save(state, buf)
    return {"model.safetensors": st_save(weights), "state.pt": buf.getvalue()}


def save(run_dir, step: int, model_state: dict, state: dict, keep: int) -> Path:
    root = Path(run_dir) / DIR
    root.mkdir(parents=True, exist_ok=True)
    clear_leftovers(run_dir)
    blobs = encode(model_state, state)
    tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{step:08d}-", dir=root))
    try:
        for name, data in blobs.items():
            write_file(tmp / name, data)
        write_manifest(tmp, {"step": step, "sha256": {n: sha256(d) for n, d in blobs.items()}})
        final = step_dir(run_dir, step)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise save_failed(run_dir, step, exc) from None
    for old in listing(run_dir)[keep:]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def save_failed(run_dir, step: int, exc: OSError) -> CheckpointError:
    prev = listing(run_dir)
    kept = f"; the previous checkpoint {prev[0]} is intact" if prev else ""
    why = "the disk is full" if exc.errno == errno.ENOSPC else str(exc)
    return CheckpointError(f"cannot write the checkpoint for step {step}: {why}{kept}. "
                           "Free space (or fix the error) and re-run the same command to "
                           "continue from there")


def load(path: Path, map_location="cpu") -> tuple[int, dict, dict]:
    """(step, model state, trainer state) of one checkpoint; raises if it is damaged."""
    verify(path)
    model_state = st_load((path / FILES[0]).read_bytes())
    state = torch.load(path / FILES[1], map_location=map_location, weights_only=True)
    return int(state["step"]), model_state, state


def latest(run_dir, map_location="cpu", warn=None):
    """The newest checkpoint that passes its checksums, or None; damaged ones are renamed
    ``.damaged-step-…`` (kept for inspection).  Called as a run starts, so it also clears
    what an interrupted save left."""
    clear_leftovers(run_dir)
    return newest(run_dir, lambda path: load(path, map_location), warn, rename=True)
