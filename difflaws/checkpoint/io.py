"""Checkpoint directories: ``<run>/checkpoints/step-00001234/``.

Each holds ``model.safetensors`` (weights), ``state.pt`` (optimizer, RNG,
schedule and data position: a dict of tensors and plain values, loaded with
``weights_only=True``) and ``manifest.json`` (step and the sha256 of each
file).  A checkpoint is written into a hidden temporary directory, fsynced,
then renamed into place, so a reader sees all of it or none of it; only the
newest ``keep`` are kept.  Loading verifies every checksum and falls back to
the previous checkpoint, with a warning, when one is corrupt or partial.
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

from difflaws.spec.errors import UserError

DIR = "checkpoints"
PREFIX = "step-"
FILES = ("model.safetensors", "state.pt")


class CheckpointError(UserError):
    """Writing a checkpoint failed (disk full, permissions); the previous one is intact."""


def step_dir(run_dir, step: int) -> Path:
    return Path(run_dir) / DIR / f"{PREFIX}{step:08d}"


def listing(run_dir) -> list[Path]:
    """Complete-looking checkpoint directories, newest first."""
    root = Path(run_dir) / DIR
    if not root.is_dir():
        return []
    dirs = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(PREFIX)]
    return sorted(dirs, key=lambda p: int(p.name[len(PREFIX):]), reverse=True)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_file(path: Path, data: bytes) -> None:
    """The one place checkpoint bytes reach the disk (tests inject failures here)."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def encode(model_state: dict, state: dict) -> dict[str, bytes]:
    weights = {k: v.detach().contiguous().cpu() for k, v in model_state.items()}
    buf = io.BytesIO()
    torch.save(state, buf)
    return {"model.safetensors": st_save(weights), "state.pt": buf.getvalue()}


def save(run_dir, step: int, model_state: dict, state: dict, keep: int) -> Path:
    root = Path(run_dir) / DIR
    root.mkdir(parents=True, exist_ok=True)
    blobs = encode(model_state, state)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{PREFIX}{step:08d}-", dir=root))
    try:
        for name, data in blobs.items():
            write_file(tmp / name, data)
        manifest = {"step": step, "sha256": {n: sha256(d) for n, d in blobs.items()}}
        write_file(tmp / "manifest.json", json.dumps(manifest, indent=2).encode())
        final = step_dir(run_dir, step)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        prev = listing(run_dir)
        kept = f"; the previous checkpoint {prev[0]} is intact" if prev else ""
        why = "the disk is full" if exc.errno == errno.ENOSPC else str(exc)
        raise CheckpointError(f"cannot write the checkpoint for step {step}: {why}{kept}. "
                              "Free space (or fix the error) and re-run the same command to "
                              "continue from there") from None
    for old in listing(run_dir)[keep:]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def verify(path: Path) -> dict[str, bytes]:
    manifest = json.loads((path / "manifest.json").read_text())
    blobs = {}
    for name in FILES:
        data = (path / name).read_bytes()
        if sha256(data) != manifest["sha256"][name]:
            raise ValueError(f"{name} fails its sha256 check")
        blobs[name] = data
    return blobs


def load(path: Path, map_location="cpu") -> tuple[int, dict, dict]:
    """(step, model state, trainer state) of one checkpoint; raises if it is damaged."""
    blobs = verify(path)
    model_state = st_load(blobs["model.safetensors"])
    state = torch.load(io.BytesIO(blobs["state.pt"]), map_location=map_location,
                       weights_only=True)
    return int(state["step"]), model_state, state


def latest(run_dir, map_location="cpu", warn=None):
    """The newest checkpoint that passes its checksums, or None.  Damaged ones are
    reported through ``warn`` and renamed ``.damaged-step-…`` (kept for inspection)."""
    warn = warn or (lambda msg: print(msg, file=sys.stderr))
    for path in listing(run_dir):
        try:
            return load(path, map_location)
        except Exception as exc:  # any damage: truncated, bad checksum, unreadable
            warn(f"difflaws: checkpoint {path} is damaged ({exc}); using the previous one")
            path.rename(path.with_name(f".damaged-{path.name}"))
    return None
