"""A run SIGKILLed mid-way and resumed ends bitwise identical to an uninterrupted one (CPU fp32).

Every run is its own ``difflaws run`` process: CPU reductions are only
bitwise repeatable under the same thread pool, and the test process's pool
may have been resized by earlier tests (numba, distributed workers).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from difflaws.checkpoint import io as ckpt_io
from difflaws.train.trainer import STEP_SLEEP_ENV

SPEC = """
name = "resume"
seed = 11
[noise]
kind = "masked"
[backbone]
kind = "transformer"
width = 32
depth = 1
head_dim = 16
[parameterization]
kind = "completep"
[optimizer]
kind = "laprop"
lr = 0.5
[tokenizer]
kind = "bytes"
[data]
kind = "markov"
n_symbols = 16
train_tokens = 20000
val_tokens = 3000
doc_len = 63
[sampler]
kind = "ancestral"
[train]
steps = 16
batch_size = 4
micro_batch_size = 2
seq_len = 32
warmup_steps = 5
log_every = 3
eval_every = 6
eval_batches = 2
checkpoint_every = 4
device = "cpu"
"""
TIMING = ("tokens_per_second", "wall_seconds")


def curve(run_dir):
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING}
            for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_sigkill_and_resume_is_bitwise_identical(tmp_path):
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(SPEC)
    command = [sys.executable, "-m", "difflaws", "run", str(spec_path), "--quiet", "--out"]

    reference = tmp_path / "ws" / "reference"
    subprocess.run([*command, str(reference)], check=True, capture_output=True)
    full = json.loads((reference / "summary.json").read_text())

    killed = tmp_path / "ws" / "killed"
    proc = subprocess.Popen([*command, str(killed)], env={**os.environ, STEP_SLEEP_ENV: "0.1"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    target = ckpt_io.step_dir(killed, 8)
    while not target.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]
    assert not (killed / "summary.json").exists()
    last = max(int(p.name[5:]) for p in (killed / "checkpoints").glob("step-*"))
    assert 8 <= last < 16

    subprocess.run([*command, str(killed)], check=True, capture_output=True)  # resumes
    resumed = json.loads((killed / "summary.json").read_text())
    assert curve(killed) == curve(reference)  # every logged figure, bit for bit
    for key in ("val_nelbo", "train_nelbo", "tokens", "steps"):
        assert resumed[key] == full[key]
    con = sqlite3.connect(tmp_path / "ws" / "results.sqlite")
    rows = con.execute("SELECT step, train_nelbo FROM metrics WHERE run_id='killed' ORDER BY step")
    assert [tuple(r) for r in rows] == [(r["step"], r["train_nelbo"]) for r in curve(reference)]
