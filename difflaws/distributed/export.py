"""Whole-model weights of a run, whatever wrote its checkpoints, as one safetensors file."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch

from difflaws.checkpoint import io
from difflaws.distributed import checkpoints

FIX = ("train it with `difflaws run SPEC --out RUN_DIR` (which also falls back past a damaged "
       "checkpoint), or restore the run directory from a copy you trust")


def sharded_weights(path: Path) -> tuple[int, dict[str, torch.Tensor]]:
    """Gather a sharded (DCP) checkpoint in this one process, without a process group."""
    step = io.verify(path)["step"]
    weights = {name: torch.empty(tuple(meta.size), dtype=meta.properties.dtype)
               for name, meta in checkpoints.stored_weights(path).items()}
    with warnings.catch_warnings():  # "assuming ... a single process": yes, on purpose
        warnings.simplefilter("ignore", UserWarning)
        checkpoints.read_state(path, {"model": weights}, no_dist=True)
    return step, weights


def single_weights(path: Path) -> tuple[int, dict[str, torch.Tensor]]:
    step, weights, _ = io.load(path)
    return step, dict(weights)


def full_weights(run_dir) -> tuple[int, dict[str, torch.Tensor]]:
    """``(step, {name: full CPU tensor})`` from the newest usable checkpoint of ``run_dir``,
    with a warning for each damaged one passed over (left in place: this only reads)."""
    return io.newest(run_dir, lambda path: (sharded_weights if checkpoints.is_sharded(path)
                                            else single_weights)(path), fix=FIX)


def export(run_dir, out=None) -> Path:
    """Write the newest weights of ``run_dir`` to ``out`` (default ``<run>/model.safetensors``)."""
    from safetensors.torch import save_file

    from difflaws.engine import SPEC_FILE

    run_dir = Path(run_dir)
    out = Path(out) if out else run_dir / "model.safetensors"
    step, weights = full_weights(run_dir)
    spec = run_dir / SPEC_FILE
    meta = {"step": str(step), "spec": spec.read_text() if spec.is_file() else ""}
    tmp = out.with_name(f".{out.name}.tmp")
    save_file({k: v.contiguous() for k, v in weights.items()}, str(tmp), metadata=meta)
    with open(tmp, "rb+") as f:  # on disk before the rename: never a half-written model
        os.fsync(f.fileno())
    os.replace(tmp, out)
    return out
