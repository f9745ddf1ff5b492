"""The real trainer in several processes: ``difflaws run --nproc 2`` against one process."""

from __future__ import annotations

import json
import sqlite3

import pytest
import torch

import distributed_helpers as helpers
from conftest import run_cli
from difflaws import engine
from difflaws.cli import main as cli_main
from difflaws.plugins import PluginHost
from difflaws.store.db import DB_FILE
from difflaws.train.restore import load_trained
from difflaws.train.trainer import train

SHORT = ["train.steps=4", "train.log_every=1", "train.eval_every=4", "train.eval_batches=1",
         "train.checkpoint_every=2"]


def losses(run_dir):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.slow
def test_run_nproc_2_fsdp2_matches_one_process(tmp_path):
    """Two FSDP2 processes launched by ``--nproc 2``: rank 0 alone logs each step once, the
    logged losses are those of a one-process run, and the run exports to one file."""
    spec_path = tmp_path / "tiny.toml"
    host = PluginHost(entry_points=False)
    spec = helpers.tiny_spec(spec_path, *SHORT)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        one = engine.open_run_dir(spec, str(tmp_path / "runs" / "one"), host=host)
        train(spec, one, quiet=True, host=host)
    finally:
        torch.set_num_threads(before)
    args = [f"--set={s}" for s in SHORT + ["distributed.strategy=fsdp2"]]
    proc = run_cli("run", spec_path, *args, "--nproc", "2", "--quiet", "--out",
                   tmp_path / "runs" / "two", env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = tmp_path / "runs" / "two"
    got, want = losses(two), losses(one)
    assert [r["step"] for r in got] == [1, 2, 3, 4]  # once each: only rank 0 writes
    for a, b in zip(got, want):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
        assert a["grad_norm"] == pytest.approx(b["grad_norm"], rel=1e-5)
        assert a["tokens"] == b["tokens"]  # the global batch, whatever the world size
    assert json.loads((two / "summary.json").read_text())["steps"] == 4
    with sqlite3.connect(tmp_path / "runs" / DB_FILE) as db:
        ids = sorted(r[0] for r in db.execute("select run_id from runs"))
        steps = [r[0] for r in db.execute("select step from metrics where run_id = 'two' "
                                          "order by step")]
    assert ids == ["one", "two"] and steps == [1, 2, 3, 4]
    out = tmp_path / "m.safetensors"
    assert cli_main(["export", str(two), "--out", str(out)]) == 0
    from safetensors.torch import load_file

    weights = load_file(out)
    model = spec.backbone.build(vocab_size=spec.tokenizer.vocab_size, meta=True)
    assert {n: tuple(p.shape) for n, p in model.named_parameters()} == \
        {n: tuple(w.shape) for n, w in weights.items()}
    # `sample` and `eval` re-open the sharded run in one process, with the exported weights
    trained = load_trained(two, device="cpu", host=host)
    assert trained.step == 4
    for name, value in trained.model.state_dict().items():
        if name in weights:
            assert torch.equal(value, weights[name]), name


def test_nproc_needs_a_distributed_strategy(tmp_path):
    spec_path = tmp_path / "tiny.toml"
    helpers.tiny_spec(spec_path)
    proc = run_cli("run", spec_path, "--nproc", "2")
    assert proc.returncode == 2 and "distributed.strategy" in proc.stderr
