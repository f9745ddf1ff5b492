"""The training loop, against stand-in components: metrics, store, micro-batches, resume, guards."""

from __future__ import annotations

import errno
import json
import math
import sqlite3

import numpy as np
import pytest
import torch

import train_standins
from difflaws import checkpoint, engine
from difflaws.checkpoint import io as ckpt_io
from difflaws.data.markov import MarkovSource
from difflaws.plugins import PluginHost
from difflaws.train import trainer
from difflaws.train.trainer import TrainingDiverged, train

SPEC = """
name = "t"
seed = 3
[noise]
kind = "standin"
[backbone]
kind = "standin"
[parameterization]
kind = "standin"
[sampler]
kind = "standin"
[optimizer]
kind = "adamw"
lr = 0.01
[data]
kind = "markov"
n_symbols = 8
train_tokens = 6000
val_tokens = 2000
doc_len = 99
[train]
steps = 24
batch_size = 8
micro_batch_size = 4
seq_len = 32
warmup_steps = 4
cooldown_fraction = 0.25
log_every = 4
eval_every = 8
eval_batches = 2
checkpoint_every = 6
keep_checkpoints = 2
"""
TIMING = ("tokens_per_second", "wall_seconds")


@pytest.fixture(scope="module")
def host():
    h = PluginHost(entry_points=False)
    h.add(train_standins, name="standins")
    return h


def setup_run(tmp_path, host, overrides=(), name="run"):
    path = tmp_path / "spec.toml"
    path.write_text(SPEC)
    spec = engine.load(path, list(overrides), host=host)
    return spec, engine.open_run_dir(spec, str(tmp_path / "ws" / name), host=host)


def curve(run_dir):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in lines]


def test_run_writes_metrics_store_and_summary(tmp_path, host):
    spec, run_dir = setup_run(tmp_path, host)
    summary = train(spec, run_dir, quiet=True, host=host)
    recs = curve(run_dir)
    assert [r["step"] for r in recs] == [4, 8, 12, 16, 20, 24]
    assert [r["step"] for r in recs if "val_nelbo" in r] == [8, 16, 24]
    for r in recs:
        assert r["tokens"] == r["step"] * 8 * 32
        per_token = train_standins.StandinBackboneConfig().figures(258, 32)
        assert r["flops_M"] == pytest.approx(r["tokens"] * per_token["flops_per_token_M"])
        assert r["flops_6P"] == pytest.approx(r["tokens"] * per_token["flops_per_token_6P"])
        assert math.isfinite(r["train_nelbo"]) and math.isfinite(r["grad_norm"])
    # WSD: warmup to 0.01 by step 4, cooldown over the last 6 steps to exactly 0
    assert recs[1]["lr"] == 0.01 and recs[-1]["lr"] == 0.0
    # the store holds the run and the same history
    con = sqlite3.connect(tmp_path / "ws" / "results.sqlite")
    con.row_factory = sqlite3.Row
    row = con.execute("SELECT * FROM runs WHERE run_id='run'").fetchone()
    assert (row["status"], row["noise_kind"], row["batch_size"], row["seq_len"], row["lr"]) == \
        ("finished", "standin", 8, 32, 0.01)
    assert row["non_embedding_params"] == per_token["non_embedding_params"]
    db_curve = con.execute("SELECT step, train_nelbo, val_nelbo FROM metrics WHERE run_id='run' "
                           "ORDER BY step").fetchall()
    assert [tuple(r) for r in db_curve] == [(r["step"], r["train_nelbo"], r.get("val_nelbo"))
                                            for r in recs]
    assert "[train]" in con.execute("SELECT spec_toml FROM configs").fetchone()[0]
    # summary: the Markov floor, and the unigram entropy of the validation split
    src = MarkovSource(8, 1, 0.3, 0, 6000, 2000, 99)
    assert summary["entropy_rate"] == pytest.approx(src.entropy_rate)
    val = src.generate(2000, 2, 256)
    p = np.bincount(val) / len(val)
    p = p[p > 0]
    assert summary["unigram_entropy"] == pytest.approx(-(p * np.log(p)).sum())
    assert summary["val_nelbo"] == recs[-1]["val_nelbo"] and summary["tokens"] == 24 * 8 * 32
    assert summary["bits_per_byte"] is None  # Markov symbols are not bytes
    on_disk = json.loads((run_dir / "summary.json").read_text())
    assert on_disk["val_nelbo"] == summary["val_nelbo"]


def deterministic_noise(self, x, generator):
    """Corruption without randomness, so two batchings see identical inputs."""
    B, T = x.shape
    pos = torch.arange(T).expand(B, T)
    masked = (x + pos) % 3 == 0
    lam = torch.zeros(B, T)
    return train_standins.StandinBatch(torch.where(masked, self.mask_id, x), lam,
                                       torch.ones_like(x, dtype=torch.bool),
                                       torch.zeros(B, dtype=torch.long), lam + 0.25)


def test_micro_batches_give_the_full_batch_gradient(tmp_path, host, monkeypatch):
    monkeypatch.setattr(train_standins.StandinProcess, "noise_batch", deterministic_noise)
    weights = []
    for micro in (0, 2, 3):  # 3 does not divide 8: uneven last micro-batch
        spec, run_dir = setup_run(tmp_path, host, [f"train.micro_batch_size={micro}",
                                                   "train.steps=3"], name=f"m{micro}")
        train(spec, run_dir, quiet=True, host=host)
        weights.append(checkpoint.latest(run_dir)[1])
    for other in weights[1:]:
        for k in weights[0]:
            torch.testing.assert_close(other[k], weights[0][k], rtol=1e-5, atol=1e-6)


class Crash(Exception):
    pass


def crash_after(monkeypatch, n_steps):
    """Make the n-th training step die, as a killed process would (no cleanup runs)."""
    real = trainer.Run.train_step
    calls = {"n": 0}

    def step(self):
        calls["n"] += 1
        if calls["n"] > n_steps:
            raise Crash()
        return real(self)

    monkeypatch.setattr(trainer.Run, "train_step", step)


def test_interrupted_run_resumes_bitwise(tmp_path, host, monkeypatch):
    spec, full_dir = setup_run(tmp_path, host, name="full")
    full = train(spec, full_dir, quiet=True, host=host)
    spec, run_dir = setup_run(tmp_path, host, name="cut")
    with monkeypatch.context() as m:
        crash_after(m, 15)  # last checkpoint at step 12; steps 13-15 are lost work
        with pytest.raises(Crash):
            train(spec, run_dir, quiet=True, host=host)
    assert curve(run_dir)[-1]["step"] == 12
    # damage the newest checkpoint too: the run falls back to step 6 and still matches
    (ckpt_io.step_dir(run_dir, 12) / "state.pt").write_bytes(b"garbage")
    resumed = train(spec, run_dir, quiet=True, host=host)
    assert curve(run_dir) == curve(full_dir)
    assert resumed["val_nelbo"] == full["val_nelbo"]
    # a finished run re-run trains nothing and reports the same summary
    again = train(spec, run_dir, quiet=True, host=host)
    assert again["val_nelbo"] == full["val_nelbo"] and curve(run_dir) == curve(full_dir)


def test_nan_guard_names_step_and_quantity(tmp_path, host, monkeypatch):
    spec, run_dir = setup_run(tmp_path, host)
    real = trainer.Run.train_step

    def step(self):
        out = real(self)
        if self.step == 7:  # the 8th step
            out["grad_norm"] = float("inf")
        return out

    monkeypatch.setattr(trainer.Run, "train_step", step)
    with pytest.raises(TrainingDiverged, match="step 8: grad_norm = inf.*step-00000006"):
        train(spec, run_dir, quiet=True, host=host)
    assert checkpoint.latest(run_dir)[0] == 6
    con = sqlite3.connect(tmp_path / "ws" / "results.sqlite")
    assert con.execute("SELECT status FROM runs").fetchone()[0] == "diverged"


def test_disk_full_keeps_last_checkpoint_and_run_continues(tmp_path, host, monkeypatch):
    spec, run_dir = setup_run(tmp_path, host)
    real_write = ckpt_io.write_file
    written = {"n": 0}

    def write(path, data):
        if "step-00000012" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device")
        written["n"] += 1
        real_write(path, data)

    with monkeypatch.context() as m:
        m.setattr(ckpt_io, "write_file", write)
        with pytest.raises(checkpoint.CheckpointError, match="disk is full.*step-00000006"):
            train(spec, run_dir, quiet=True, host=host)
    assert [p.name for p in ckpt_io.listing(run_dir)] == ["step-00000006"]
    summary = train(spec, run_dir, quiet=True, host=host)
    assert summary["steps"] == 24


def test_csv_logger_and_bf16_autocast(tmp_path, host):
    path = tmp_path / "spec.toml"
    path.write_text(SPEC + '\n[[loggers]]\nkind = "csv"\ncolumns = ["step", "train_nelbo"]\n')
    spec = engine.load(path, ["train.precision=\"bf16\"", "train.steps=8"], host=host)
    run_dir = engine.open_run_dir(spec, str(tmp_path / "ws" / "bf16"), host=host)
    summary = train(spec, run_dir, quiet=True, host=host)
    assert math.isfinite(summary["val_nelbo"])
    rows = (run_dir / "metrics.csv").read_text().splitlines()
    assert rows[0] == "step,train_nelbo" and [r.split(",")[0] for r in rows[1:]] == ["4", "8"]
    assert [float(r.split(",")[1]) for r in rows[1:]] == [r["train_nelbo"] for r in curve(run_dir)]
