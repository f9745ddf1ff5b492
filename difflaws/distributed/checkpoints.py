"""Sharded checkpoints with ``torch.distributed.checkpoint`` (DCP).

Layout, next to single-process checkpoints and pruned with them:
``<run>/checkpoints/step-00001234/`` holding ``dcp/`` (every rank's shards of
the model and optimizer, keyed by parameter name, so any world size can read
them), ``trainer.pt`` (step, RNG, data position, log window: the same on every
rank, written by rank 0) and ``manifest.json`` (``"format": "dcp"`` and the
sha256 of every file, the shards and DCP's ``.metadata`` included).  All ranks
write into ``.tmp-step-…`` and rank 0 renames it into place once everyone is
done, so a reader sees a whole checkpoint or none.

Loading checks the manifest first, then reads DCP's files through
:mod:`difflaws.checkpoint.safe_dcp`, which unpickles nothing but DCP's own
metadata classes.  Hashing, on save and on load, is split among the ranks.
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import torch

from difflaws.checkpoint.io import (DIR, TMP_PREFIX, CheckpointError, DamagedCheckpoint,
                                   clear_leftovers, file_sha256, inventory, listing, newest,
                                   read_manifest, save_failed, sha256, step_dir, verify,
                                   write_file, write_manifest)
from difflaws.errors import UserError

FORMAT = "dcp"
SHARDS = "dcp"
TRAINER = "trainer.pt"


def is_sharded(path: Path) -> bool:
    try:
        return read_manifest(path).get("format") == FORMAT
    except DamagedCheckpoint:
        return False


def share(world) -> slice:
    """This rank's part of a sorted list of files to hash."""
    return slice(world.rank, None, world.world_size)


def gather(items, world) -> list:
    import torch.distributed as dist

    out = [None] * world.world_size
    dist.all_gather_object(out, items)
    return out


def save(run_dir, step: int, model, optimizer, state: dict, keep: int, world) -> Path:
    import torch.distributed as dist
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict

    root = Path(run_dir) / DIR
    tmp = root / f"{TMP_PREFIX}{step:08d}"  # one name all ranks agree on without talking
    if world.is_main:
        root.mkdir(parents=True, exist_ok=True)
        clear_leftovers(run_dir)  # this name too, if a run was killed saving this very step
        tmp.mkdir()
    dist.barrier()
    model_state, optim_state = get_state_dict(model, optimizer)
    failed, why, mine = torch.zeros(1), None, {}
    try:
        dcp.save({"model": model_state, "optimizer": optim_state}, checkpoint_id=tmp / SHARDS)
        mine = {name: file_sha256(tmp / name) for name in inventory(tmp)[share(world)]}
    except OSError as exc:
        failed += 1
        why = exc
    dist.all_reduce(failed)
    checksums = {k: v for part in gather(mine, world) for k, v in part.items()}
    final = step_dir(run_dir, step)
    if world.is_main:
        try:
            if failed.item():
                raise why or OSError("another rank could not write its shard")
            buf = io.BytesIO()
            torch.save(state, buf)
            write_file(tmp / TRAINER, buf.getvalue())
            write_manifest(tmp, {"step": step, "format": FORMAT, "world_size": world.world_size,
                                 "sha256": {**checksums, TRAINER: sha256(buf.getvalue())}})
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            failed += 1
            error = save_failed(run_dir, step, exc)
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
    from difflaws.checkpoint.safe_dcp import read_metadata

    stored = read_metadata(Path(path) / SHARDS).state_dict_metadata
    prefix = "model."
    return {k[len(prefix):]: m for k, m in stored.items()
            if k.startswith(prefix) and hasattr(m, "size")}


def check_shapes(path: Path, model) -> None:
    refuse_misfits(path, global_shapes(model),
                   {k: tuple(m.size) for k, m in stored_weights(path).items()})


def verify_together(path: Path, world) -> None:
    """:func:`verify` with the hashing split among the ranks; all of them raise alike."""
    try:
        verify(path, share(world))
        mine = None
    except Exception as exc:  # every rank must reach the gather, or the others wait forever
        mine = str(exc)
    problems = [p for p in gather(mine, world) if p]
    if problems:
        raise DamagedCheckpoint(problems[0])


def read_state(path: Path, state_dict: dict, no_dist: bool = False) -> None:
    """Fill ``state_dict`` from the shards of a verified checkpoint."""
    import torch.distributed.checkpoint as dcp

    from difflaws.checkpoint.safe_dcp import SafePlanner, SafeReader

    try:
        dcp.load(state_dict, storage_reader=SafeReader(Path(path) / SHARDS),
                 planner=SafePlanner(), no_dist=no_dist)
    except dcp.CheckpointException as exc:  # a BaseException: it would slip past any fallback
        first = next(iter(exc.failures.values()))[0]
        raise DamagedCheckpoint(f"{Path(path) / SHARDS}: {first}") from None


def load(path: Path, model, optimizer, world) -> tuple[int, dict]:
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    if read_manifest(path).get("format") != FORMAT:
        raise UserError(f"{path} was written by a single-process run (distributed.strategy = "
                        "\"none\"); resume it with that strategy, or export its weights")
    verify_together(path, world)
    check_shapes(path, model)
    model_state, optim_state = get_state_dict(model, optimizer)
    read_state(path, {"model": model_state, "optimizer": optim_state})
    set_state_dict(model, optimizer, model_state_dict=model_state, optim_state_dict=optim_state)
    state = torch.load(path / TRAINER, map_location="cpu", weights_only=True)
    return int(state["step"]), state


def load_latest(run_dir, model, optimizer, world, warn=None):
    """``(step, trainer state)`` of the newest readable checkpoint, model and optimizer
    restored from it (resharded to this world size), or None if there is none."""
    if world.is_main:  # a run starts here: clear what an interrupted save left
        clear_leftovers(run_dir)
    # every rank sees the same files, so all fall back alike; rank 0 alone says so
    return newest(run_dir, lambda path: load(path, model, optimizer, world),
                  warn=(warn or print) if world.is_main else (lambda msg: None))
