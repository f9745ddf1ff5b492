"""A run directory is untrusted input: a crafted checkpoint must never run code.

The attacker controls the whole directory, checksums included, so each exploit here also
forges the manifest: what stops it is that nothing on a load path unpickles more than plain
data (DCP's ``.metadata`` through a restricted unpickler, DCP's byte entries and the
trainer state through ``weights_only=True``).  The checksums catch damage and files that
no manifest vouches for."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import pickle
import shutil
import warnings
from pathlib import Path

import pytest
import torch

import distributed_helpers as helpers
from conftest import run_cli
from difflaws import checkpoint, cli
from difflaws.checkpoint import io as ckpt_io
from difflaws.checkpoint.safe_dcp import MetadataUnpickler, read_metadata
from difflaws.distributed.export import full_weights

SHORT = ["train.steps=4", "train.checkpoint_every=2", "train.log_every=1", "train.eval_every=4",
         "train.eval_batches=1", "distributed.strategy=ddp"]
RUN_ARGS = [a for s in SHORT for a in ("--set", s)] + ["--quiet"]
COMMANDS = {"export": [], "sample": ["--n", "1", "--steps", "2"],
            "eval": ["--batches", "1", "--samples", "1"]}


class Touch:
    """Unpickling this creates ``path``: what a crafted checkpoint would do, harmlessly."""

    def __init__(self, path):
        self.path = Path(path)

    def __reduce__(self):
        return Path.touch, (self.path,)


def forge_manifest(step_dir: Path) -> None:
    """Checksums that match whatever the directory now holds, as an attacker would write."""
    manifest = json.loads((step_dir / "manifest.json").read_text())
    manifest["sha256"] = {p.relative_to(step_dir).as_posix(): hashlib.sha256(p.read_bytes())
                          .hexdigest() for p in step_dir.rglob("*")
                          if p.is_file() and p.name != "manifest.json"}
    (step_dir / "manifest.json").write_text(json.dumps(manifest))


def craft(step_dir: Path, marker: Path) -> Path:
    """Hide the payload in an otherwise valid DCP index: unpickled, it loads fine."""
    path = step_dir / "dcp" / ".metadata"
    metadata = pickle.loads(path.read_bytes())
    metadata.planner_data = Touch(marker)
    path.write_bytes(pickle.dumps(metadata))
    forge_manifest(step_dir)
    return path


def losses(run_dir):
    return [(r["step"], r["loss"]) for r in map(json.loads,
                                                 (run_dir / "metrics.jsonl").open())]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A DDP run of one process with DCP checkpoints at steps 2 and 4."""
    root = tmp_path_factory.mktemp("sec")
    spec = root / "tiny.toml"
    helpers.tiny_spec(spec)
    proc = run_cli("run", spec, *RUN_ARGS, "--out", root / "ws" / "run",
                   env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return spec, root / "ws" / "run"


@pytest.fixture
def copy(trained, tmp_path):
    """A fresh copy of the trained run directory (in a workspace of its own) and a marker."""
    run = tmp_path / "ws" / "run"
    shutil.copytree(trained[1], run)
    return run, tmp_path / "MARKER"


def save_dcp(directory: Path, lr) -> dict:
    """A one-process DCP checkpoint with tensor and byte entries: every metadata class."""
    import torch.distributed.checkpoint as dcp

    state = {"w": torch.ones(2), "opt": {"lr": lr, "betas": (0.9, 0.99)}}
    with warnings.catch_warnings():  # "assuming ... a single process": yes
        warnings.simplefilter("ignore", UserWarning)
        dcp.save(state, checkpoint_id=directory / "dcp", no_dist=True)
    return state


def test_unpickler_admits_dcp_metadata_only(tmp_path):
    save_dcp(tmp_path, 0.5)
    legit = tmp_path / "dcp" / ".metadata"
    with open(legit, "rb") as f:
        assert MetadataUnpickler(f).load() == pickle.loads(legit.read_bytes())
    marker = tmp_path / "MARKER"

    class System:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    class Eval:
        def __reduce__(self):
            return eval, (f"open({str(marker)!r}, 'w')",)

    for payload in (Touch(marker), System(), Eval()):
        with pytest.raises(pickle.UnpicklingError, match="which DCP metadata never holds"):
            MetadataUnpickler(io.BytesIO(pickle.dumps(payload))).load()
    assert not marker.exists()
    # plain data, but naming a file outside the checkpoint for DCP to read
    metadata = pickle.loads(legit.read_bytes())
    metadata.storage_data = {k: dataclasses.replace(v, relative_path="../../../secret")
                             for k, v in metadata.storage_data.items()}
    legit.write_bytes(pickle.dumps(metadata))
    with pytest.raises(checkpoint.DamagedCheckpoint, match="points at data outside"):
        read_metadata(tmp_path / "dcp")


@pytest.mark.filterwarnings("ignore:torch.distributed is disabled")  # one process: on purpose
def test_dcp_byte_entries_load_as_plain_data(tmp_path):
    from difflaws.distributed.checkpoints import read_state

    marker = tmp_path / "MARKER"
    for name, lr in (("good", 0.5), ("bad", Touch(marker))):
        saved = save_dcp(tmp_path / name, lr)
        state = {"w": torch.zeros(2), "opt": {"lr": None, "betas": None}}
        if name == "good":
            read_state(tmp_path / name, state, no_dist=True)
            assert state["opt"] == saved["opt"] and torch.equal(state["w"], saved["w"])
        else:
            with pytest.raises(checkpoint.DamagedCheckpoint, match="opt.lr holds more than plain"):
                read_state(tmp_path / name, state, no_dist=True)
    assert not marker.exists()


@pytest.mark.slow
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_crafted_newest_checkpoint_falls_back(copy, command, capsys):
    run, marker = copy
    metadata = craft(ckpt_io.step_dir(run, 4), marker)
    assert cli.main([command, str(run), *COMMANDS[command]]) == 0
    assert not marker.exists()
    err = capsys.readouterr().err
    assert str(metadata) in err and "using the previous one" in err
    if command == "export":
        from safetensors import safe_open

        with safe_open(run / "model.safetensors", "pt") as f:
            assert f.metadata()["step"] == "2"


@pytest.mark.slow
def test_no_usable_checkpoint_is_exit_2(copy, capsys):
    run, marker = copy
    crafted = [craft(path, marker) for path in ckpt_io.listing(run)]
    for command, extra in COMMANDS.items():
        code = cli.main([command, str(run), *extra])
        assert not marker.exists() and code == 2, command
        err = capsys.readouterr().err
        assert f"{run} has no usable checkpoint: {crafted[0]} is refused" in err, command
        assert "difflaws run" in err  # the fix
    assert not marker.exists()


@pytest.mark.slow
def test_run_resumes_past_a_crafted_checkpoint(trained, copy):
    """Resuming falls back to the intact step-2 DCP checkpoint and trains on exactly as the
    run did (the legitimate DCP path, optimizer state included), and clears what an
    interrupted save left."""
    spec, original = trained
    run, marker = copy
    metadata = craft(ckpt_io.step_dir(run, 4), marker)
    (run / "summary.json").unlink()  # unfinished, as if killed: a finished run loads nothing
    leftover = run / "checkpoints" / ".tmp-step-00000006"
    (leftover / "dcp").mkdir(parents=True)
    (leftover / "dcp" / "__0_0.distcp").write_bytes(b"half a shard")
    proc = run_cli("run", spec, *RUN_ARGS, "--out", run, env={"OMP_NUM_THREADS": "1"})
    assert not marker.exists()
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert str(metadata) in proc.stderr + proc.stdout
    assert losses(run) == losses(original)
    assert not leftover.exists()
    assert [p.name for p in ckpt_io.listing(run)] == ["step-00000004", "step-00000002"]


@pytest.mark.slow
def test_manifest_vouches_for_every_file(copy, capsys):
    run, _ = copy
    step = ckpt_io.step_dir(run, 4)
    ckpt_io.verify(step)
    manifest = (step / "manifest.json").read_text()
    assert {"dcp/.metadata", "dcp/__0_0.distcp", "trainer.pt"} == \
        set(json.loads(manifest)["sha256"])

    def refused(match):
        with pytest.raises(checkpoint.DamagedCheckpoint, match=match):
            ckpt_io.verify(step)
        (step / "manifest.json").write_text(manifest)

    shard = step / "dcp" / "__0_0.distcp"
    data = shard.read_bytes()
    shard.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    refused("__0_0.distcp fails its sha256 check")
    shard.write_bytes(data)
    (step / "dcp" / "extra.distcp").write_bytes(b"")
    refused("extra.distcp is not listed in")
    (step / "dcp" / "extra.distcp").unlink()
    (step / "dcp" / "link").symlink_to(shard)
    refused("link is a link")
    (step / "dcp" / "link").unlink()
    # a manifest that only claims the format, as one written before shards were covered
    (step / "manifest.json").write_text(json.dumps({"step": 4, "format": "dcp", "sha256": {}}))
    refused(r"\.metadata is not listed in")
    (step / "dcp" / ".metadata").write_bytes(b"garbage")
    assert full_weights(run)[0] == 2  # damage on the newest: warned about, the previous used
    assert "dcp/.metadata fails its sha256 check" in capsys.readouterr().err


def test_interrupted_saves_are_cleared(tmp_path):
    root = tmp_path / "checkpoints"
    leftover = root / ".tmp-step-00000003-x1y2"
    leftover.mkdir(parents=True)
    (leftover / "model.safetensors").write_bytes(b"half")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "keep").write_text("mine")
    (root / ".tmp-step-link").symlink_to(outside)
    (root / ".damaged-step-00000001").mkdir()  # kept for inspection
    checkpoint.save(tmp_path, 4, {"w": torch.ones(2)}, {"step": 4}, keep=2)
    assert sorted(p.name for p in root.iterdir()) == [
        ".damaged-step-00000001", ".tmp-step-link", "step-00000004"]
    assert (outside / "keep").read_text() == "mine"
    leftover.mkdir()
    assert checkpoint.latest(tmp_path)[0] == 4  # a resuming run clears them first, too
    assert not leftover.exists()
