"""Whole-model weights of a run, whatever wrote its checkpoints, as one safetensors file."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch

from difflaws.checkpoint.io import listing
from difflaws.distributed import checkpoints
from difflaws.spec.errors import UserError


def full_weights(run_dir) -> tuple[int, dict[str, torch.Tensor]]:
    """``(step, {name: full CPU tensor})`` from the newest checkpoint of ``run_dir``; sharded
    (DCP) checkpoints are gathered in this one process, without a process group."""
    found = listing(run_dir)
    if not found:
        raise UserError(f"{run_dir} has no checkpoint yet; train it with `difflaws run` first")
    path = found[0]
    if not checkpoints.is_sharded(path):
        from difflaws import checkpoint

        found = checkpoint.latest(run_dir)  # verifies checksums, falls back past damage
        if found is None:
            raise UserError(f"{run_dir} has no usable checkpoint; train it with `difflaws run`")
        step, weights, _ = found
        return step, dict(weights)
    import torch.distributed.checkpoint as dcp

    weights = {name: torch.empty(tuple(meta.size), dtype=meta.properties.dtype)
               for name, meta in checkpoints.stored_weights(path).items()}
    with warnings.catch_warnings():  # "assuming ... a single process": yes, on purpose
        warnings.simplefilter("ignore", UserWarning)
        dcp.load({"model": weights}, checkpoint_id=path / checkpoints.SHARDS, no_dist=True)
    return checkpoints.read_manifest(path)["step"], weights


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
