"""A parquet corpus on two gloo processes, each reading only its rows: SIGKILLed after a
checkpoint and resumed, the run ends bitwise the uninterrupted two-process run.  (That
the ranks' rows are the one-process run's is tests/test_streaming.py's, in-process.)

Every run is its own ``difflaws run`` process (see tests/test_train_resume.py: CPU
reductions are bitwise repeatable only under the same thread pool)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from difflaws.checkpoint import io as ckpt_io
from difflaws.train.trainer import STEP_SLEEP_ENV

pytest.importorskip("pyarrow")
if not Path("/proc/self/stat").exists():
    pytest.skip("killing a launcher's ranks reads /proc", allow_module_level=True)

SPEC = """
name = "pq2"
seed = 5
[noise]
kind = "masked"
[backbone]
kind = "transformer"
width = 32
depth = 1
head_dim = 16
[optimizer]
kind = "laprop"
lr = 0.3
[tokenizer]
kind = "bytes"
[data]
kind = "parquet"
lanes = 2
val_fraction = 0.1
[data.buckets.high]
paths = ["shards/high"]
weight = 3.0
[data.buckets.low]
paths = ["shards/low/*.parquet"]
weight = 1.0
[distributed]
strategy = "ddp"
[train]
steps = 8
batch_size = 8
micro_batch_size = 2
seq_len = 32
warmup_steps = 2
log_every = 1
eval_every = 4
eval_batches = 1
checkpoint_every = 2
device = "cpu"
"""
TIMING = ("tokens_per_second", "wall_seconds")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "DIFFLAWS_LOAD_PLUGINS": ""}


def descendants(pid: int) -> list[int]:
    """Every process under ``pid`` (torchrun starts its ranks in sessions of their own)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def curve(run_dir):
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING}
            for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_two_processes_killed_and_resumed_match_the_uninterrupted_run(tmp_path):
    from test_parquet_data import write_shards

    write_shards(tmp_path / "shards" / "high", 3, 60, seed=1, row_group=9)
    write_shards(tmp_path / "shards" / "low", 2, 60, seed=2, row_group=9)
    (tmp_path / "spec.toml").write_text(SPEC)
    command = [sys.executable, "-m", "difflaws", "run", "spec.toml", "--quiet", "--out"]
    two = ["--nproc", "2"]

    def run(out, *extra, **kw):
        return subprocess.run([*command, out, *extra], cwd=tmp_path, env=ENV,
                              capture_output=True, text=True, timeout=300, **kw)

    reference = run("ws/reference", *two)
    assert reference.returncode == 0, reference.stderr[-3000:]

    killed = tmp_path / "ws" / "killed"
    proc = subprocess.Popen([*command, "ws/killed", *two], cwd=tmp_path,
                            env={**ENV, STEP_SLEEP_ENV: "0.3"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while not ckpt_io.step_dir(killed, 4).exists() and proc.poll() is None \
            and time.time() < deadline:
        time.sleep(0.02)
    for pid in [proc.pid, *descendants(proc.pid)]:  # the launcher and both ranks, no cleanup
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _, err = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]
    assert not (killed / "summary.json").exists()
    last = max(int(p.name[5:]) for p in (killed / "checkpoints").glob("step-*"))
    assert 4 <= last < 8

    resumed = run("ws/killed", *two)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert curve(killed) == curve(tmp_path / "ws" / "reference")  # bit for bit
    summaries = [json.loads((tmp_path / "ws" / d / "summary.json").read_text())
                 for d in ("killed", "reference")]
    for key in ("val_nelbo", "train_nelbo", "tokens", "pool_tokens"):
        assert summaries[0][key] == summaries[1][key]
