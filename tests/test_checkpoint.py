"""Checkpoints: atomic, checksummed, pruned; damage or a full disk leaves the last good one."""

from __future__ import annotations

import errno

import pytest
import torch

from difflaws import checkpoint
from difflaws.checkpoint import io as ckpt_io


def state(step):
    return {"step": step, "rng": torch.get_rng_state(), "nested": {"a": [1, 2.5, "x"]}}


def weights(step):
    return {"w": torch.full((3, 2), float(step)), "b": torch.arange(4.0)}


def test_round_trip_and_keep_last(tmp_path):
    for step in (10, 20, 30):
        checkpoint.save(tmp_path, step, weights(step), state(step), keep=2)
    names = [p.name for p in ckpt_io.listing(tmp_path)]
    assert names == ["step-00000030", "step-00000020"]
    step, w, s = checkpoint.latest(tmp_path)
    assert step == 30 and torch.equal(w["w"], weights(30)["w"])
    assert s["nested"]["a"] == [1, 2.5, "x"]
    assert not [p for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith(".tmp")]


@pytest.mark.parametrize("damage", ["flip", "truncate", "missing"])
def test_damaged_checkpoint_falls_back(tmp_path, damage):
    for step in (10, 20):
        checkpoint.save(tmp_path, step, weights(step), state(step), keep=3)
    target = ckpt_io.step_dir(tmp_path, 20) / "model.safetensors"
    data = target.read_bytes()
    if damage == "flip":
        target.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    elif damage == "truncate":
        target.write_bytes(data[: len(data) // 2])
    else:
        target.unlink()
    warnings = []
    step, w, _ = checkpoint.latest(tmp_path, warn=warnings.append)
    assert step == 10 and torch.equal(w["w"], weights(10)["w"])
    assert len(warnings) == 1 and "step-00000020" in warnings[0]


def test_disk_full_keeps_previous_checkpoint(tmp_path, monkeypatch):
    checkpoint.save(tmp_path, 10, weights(10), state(10), keep=2)
    calls = []

    def full(path, data):
        calls.append(path)
        if len(calls) == 2:  # fail midway: one file already written
            raise OSError(errno.ENOSPC, "No space left on device")
        with open(path, "wb") as f:
            f.write(data)

    monkeypatch.setattr(ckpt_io, "write_file", full)
    with pytest.raises(checkpoint.CheckpointError, match="disk is full.*step-00000010 is intact"):
        checkpoint.save(tmp_path, 20, weights(20), state(20), keep=2)
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["step-00000010"]
    assert checkpoint.latest(tmp_path)[0] == 10
