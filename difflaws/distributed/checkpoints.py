"""Sharded checkpoints with ``torch.distributed.checkpoint`` (DCP).

Layout, next to single-process checkpoints and pruned with them:
``<run>/checkpoints/step-00001234/`` holding ``dcp/`` (every rank's shards of
the model and optimizer, keyed by parameter name, so any world size can read
them), ``trainer.pt`` (step, RNG, data position, log window: the same on every
rank, written by rank 0) and ``manifest.json`` (``"format": "dcp"``).  All
ranks write into ``.tmp-step-…`` and rank 0 renames it into place once
everyone is done, so a reader sees a whole checkpoint or none.
"""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
from pathlib import Path

import torch

from difflaws.checkpoint.io import (DIR, PREFIX, CheckpointError, listing, sha256, step_dir,
                                   write_file)
from difflaws.spec.errors import UserError

FORMAT = "dcp"
SHARDS = "dcp"
TRAINER = "trainer.pt"
MANIFEST = "manifest.json"


def read_manifest(path: Path) -> dict:
    return json.loads((Path(path) / MANIFEST).read_text())


def is_sharded(path: Path) -> bool:
    try:
        return read_manifest(path).get("format") == FORMAT
    except (OSError, ValueError):
        return False


def save(run_dir, step: int, model, optimizer, state: dict, keep: int, world) -> Path:
    import torch.distributed as dist
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict

    root = Path(run_dir) / DIR
    tmp = root / f".tmp-{PREFIX}{step:08d}"  # one name all ranks agree on without talking
    if world.is_main:
        root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)  # left by a run killed mid-save
        tmp.mkdir()
    dist.barrier()
    model_state, optim_state = get_state_dict(model, optimizer)
    failed, why = torch.zeros(1), None
    try:
        dcp.save({"model": model_state, "optimizer": optim_state}, checkpoint_id=tmp / SHARDS)
    except OSError as exc:
        failed += 1
        why = exc
    dist.all_reduce(failed)
    final = step_dir(run_dir, step)
    if world.is_main:
        try:
            if failed.item():
                raise why or OSError("another rank could not write its shard")
            buf = io.BytesIO()
            torch.save(state, buf)
            write_file(tmp / TRAINER, buf.getvalue())
            manifest = {"step": step, "format": FORMAT, "world_size": world.world_size,
                        "sha256": {TRAINER: sha256(buf.getvalue())}}
            write_file(tmp / MANIFEST, json.dumps(manifest, indent=2).encode())
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            failed += 1
            prev = listing(run_dir)
            kept = f"; the previous checkpoint {prev[0]} is intact" if prev else ""
            reason = "the disk is full" if exc.errno == errno.ENOSPC else str(exc)
            error = CheckpointError(f"cannot write the checkpoint for step {step}: {reason}{kept}. "
                                    "Free space (or fix the error) and re-run the same command "
                                    "to continue from there")
        else:
            for old in listing(run_dir)[keep:]:
                shutil.rmtree(old, ignore_errors=True)
    dist.broadcast(failed, src=0)
    if failed.item():
        raise error if world.is_main else CheckpointError(
            f"rank 0 could not write the checkpoint for step {step}; see its message")
    return final


def global_shapes(model) -> dict[str, tuple]:
    return {name: tuple(p.shape) for name, p in model.named_parameters()}  # DTensor: global shape


def refuse_misfits(path, expected: dict[str, tuple], stored: dict[str, tuple]) -> None:
    """Refuse a checkpoint whose tensors do not fit the spec's model, naming the first misfits."""
    wrong = [f"{name}: checkpoint {stored.get(name) or 'missing'}, spec {shape}"
             for name, shape in expected.items() if stored.get(name) != shape]
    if wrong:
        raise UserError(f"the checkpoint {path} holds a model of another shape than the spec's "
                        f"({'; '.join(wrong[:3])}{'; …' if len(wrong) > 3 else ''}); resume it "
                        "with the spec it was written with (its run directory's spec.toml), or "
                        "start a new run directory")


def stored_weights(path: Path) -> dict:
    """``{parameter name: DCP tensor metadata}`` of the model a sharded checkpoint holds."""
    from torch.distributed.checkpoint import FileSystemReader

    stored = FileSystemReader(str(Path(path) / SHARDS)).read_metadata().state_dict_metadata
    prefix = "model."
    return {k[len(prefix):]: m for k, m in stored.items()
            if k.startswith(prefix) and hasattr(m, "size")}


def check_shapes(path: Path, model) -> None:
    refuse_misfits(path, global_shapes(model),
                   {k: tuple(m.size) for k, m in stored_weights(path).items()})


def load(path: Path, model, optimizer) -> tuple[int, dict]:
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    manifest = read_manifest(path)
    if manifest.get("format") != FORMAT:
        raise UserError(f"{path} was written by a single-process run (distributed.strategy = "
                        "\"none\"); resume it with that strategy, or export its weights")
    data = (path / TRAINER).read_bytes()
    if sha256(data) != manifest["sha256"][TRAINER]:
        raise ValueError(f"{TRAINER} fails its sha256 check")
    check_shapes(path, model)
    model_state, optim_state = get_state_dict(model, optimizer)
    dcp.load({"model": model_state, "optimizer": optim_state}, checkpoint_id=path / SHARDS)
    set_state_dict(model, optimizer, model_state_dict=model_state, optim_state_dict=optim_state)
    state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    return int(state["step"]), state


def load_latest(run_dir, model, optimizer, world, warn=None):
    """``(step, trainer state)`` of the newest readable checkpoint, model and optimizer
    restored from it (resharded to this world size), or None if there is none."""
    warn = warn or print
    for path in listing(run_dir):
        try:
            return load(path, model, optimizer)
        except UserError:
            raise
        except Exception as exc:  # truncated or damaged: every rank sees the same files
            if world.is_main:
                warn(f"difflaws: checkpoint {path} is unreadable ({exc}); using the previous one")
    return None
