"""Sweeps that really run: local processes (killed, then resumed) and submitit's local executor.

Each member is a real ``difflaws run`` of a one-block model on the markov source,
so these tests check the whole path: members → processes → run directories →
the sweep's results DB.
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from difflaws.cli import main

BASE = (Path(__file__).parent / "specs" / "tiny_markov.toml").read_text()


def make_sweep(tmp_path, executor: str = "", base: str = BASE):
    (tmp_path / "base.toml").write_text(base)
    path = tmp_path / "two.toml"
    path.write_text(textwrap.dedent(f"""\
        base_spec = "base.toml"
        out_dir = "{(tmp_path / 'out').as_posix()}"
        [axes]
        "optimizer.lr" = [0.1, 0.3]
        """) + executor)
    return path


def db_rows(sweep_dir):
    with sqlite3.connect(sweep_dir / "results.sqlite") as db:
        runs = db.execute("SELECT run_id, status, lr, last_step, final_val_nelbo FROM runs "
                          "ORDER BY lr").fetchall()
        steps = {r: [s for (s,) in db.execute("SELECT step FROM metrics WHERE run_id=? "
                                              "ORDER BY step", (r,))] for r, *_ in runs}
    return runs, steps


def wait_for(predicate, timeout=240.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.slow
def test_local_sweep_survives_a_kill_and_resumes(tmp_path, capsys):
    path = make_sweep(tmp_path)
    sweep_dir = tmp_path / "out" / "two"
    env = {**os.environ, "DIFFLAWS_TEST_STEP_SLEEP": "0.5"}
    proc = subprocess.Popen([sys.executable, "-m", "difflaws", "sweep", str(path), "--jobs", "2"],
                            env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        # kill the sweep and its runs once every member has a checkpoint, mid-run
        def checkpointed():
            members = [d for d in sweep_dir.glob("lr=*") if d.is_dir()]
            return len(members) == 2 and all(any((d / "checkpoints").glob("step-*"))
                                              for d in members)

        assert wait_for(lambda: checkpointed() or proc.poll() is not None) and checkpointed(), \
            proc.stderr.read() if proc.poll() is not None else "no checkpoints in time"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the whole group: sweep and runs, like a dead node
        proc.wait()
    members = sorted(d for d in sweep_dir.glob("lr=*") if d.is_dir())
    assert all(not (d / "summary.json").exists() for d in members)

    assert main(["sweep", str(path), "--dry-run"]) == 0
    assert capsys.readouterr().out.count("partial") == 2

    assert main(["sweep", str(path), "--jobs", "2"]) == 0
    err = capsys.readouterr().err
    assert "0 done, 2 to run (2 resuming)" in err
    for d in members:
        assert (d / "summary.json").exists()
        log = (sweep_dir / "logs" / f"{d.name}.log").read_text()
        assert "resuming" in log  # continued from a checkpoint, not from step 0
    runs, steps = db_rows(sweep_dir)
    assert [(r[1], r[2], r[3]) for r in runs] == [("finished", 0.1, 8), ("finished", 0.3, 8)]
    assert all(s == list(range(1, 9)) for s in steps.values())  # one row per step, no gaps
    manifest = json.loads((sweep_dir / "sweep.json").read_text())
    assert sorted(m["name"] for m in manifest["members"]) == [d.name for d in members]

    logs = {d.name: (sweep_dir / "logs" / f"{d.name}.log").stat().st_size for d in members}
    assert main(["sweep", str(path)]) == 0
    assert "2 done, 0 to run" in capsys.readouterr().err
    assert logs == {d.name: (sweep_dir / "logs" / f"{d.name}.log").stat().st_size
                    for d in members}  # finished members were not started again


@pytest.mark.slow
def test_submitit_local_executor_runs_a_two_point_sweep(tmp_path, capsys):
    pytest.importorskip("submitit")
    path = make_sweep(tmp_path, '[executor]\nkind = "submitit"\ncluster = "local"\n'
                                'timeout_min = 10\ncpus_per_task = 1\n')
    assert main(["sweep", str(path)]) == 0
    err = capsys.readouterr().err
    assert err.count("submitted") == 2
    sweep_dir = tmp_path / "out" / "two"
    runs, steps = db_rows(sweep_dir)
    assert [(r[1], r[2], r[3]) for r in runs] == [("finished", 0.1, 8), ("finished", 0.3, 8)]
    assert all(r[4] is not None and r[4] > 0 for r in runs)
    assert any((sweep_dir / "executor").iterdir())  # submitit's own job files


def test_dry_run_lists_commands_without_running(tmp_path, capsys):
    path = make_sweep(tmp_path, '[executor]\nkind = "submitit"\nnproc_per_node = 4\n')
    assert main(["sweep", str(path), "--dry-run", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert [m["state"] for m in listing["members"]] == ["pending", "pending"]
    command = listing["members"][0]["command"]
    assert "torch.distributed.run --nproc_per_node=4 -m difflaws run" in command
    assert "--set optimizer.lr=0.1" in command and "--out" in command
    assert not (tmp_path / "out").exists()
    assert main(["sweep", str(path), "--executor", "local", "--jobs", "0"]) == 2
    assert main(["sweep", str(path), "--jobs", "2"]) == 2  # jobs is not a submitit option
    assert "executor.jobs: unknown key" in capsys.readouterr().err
