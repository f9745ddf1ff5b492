"""Runs stopped by signals: SIGTERM/SIGINT checkpoint at the next step and exit 143/130, a
SIGKILLed run's stale ``running`` row is reconciled, every resume is bitwise equal to an
uninterrupted run, and a sweep's members die with their parent (SIGKILL or SIGTERM).

Every run is its own ``difflaws run`` process with one CPU thread, so all of them reduce
in the same order (see test_train_resume.py).
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from difflaws import rundir
from difflaws.signals import StopRequest, Stopped, exit_code, stop_requests
from difflaws.store import ResultsDB
from difflaws.train.trainer import STEP_SLEEP_ENV
from test_sweep_run import BASE, make_sweep
from test_train_resume import SPEC, curve

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "DIFFLAWS_LOAD_PLUGINS": ""}


def command(spec_path, out):
    return [sys.executable, "-m", "difflaws", "run", str(spec_path), "--quiet", "--out", str(out)]


def wait_for(predicate, timeout=240.0, every=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(every)
    return False


def logged_steps(run_dir) -> list[int]:
    try:
        text = (run_dir / "metrics.jsonl").read_text()
    except OSError:
        return []
    return [json.loads(line)["step"] for line in text.splitlines() if line.endswith("}")]


def checkpoints(run_dir) -> list[int]:
    return sorted(int(p.name[5:]) for p in (run_dir / "checkpoints").glob("step-*"))


def status(db_path, run_id) -> str | None:
    with sqlite3.connect(db_path) as con:  # raw: no reconciliation
        row = con.execute("SELECT status FROM runs WHERE run_id=?", (run_id,)).fetchone()
    return row[0] if row else None


def weights(run_dir, step):
    from safetensors.torch import load_file

    return load_file(str(run_dir / "checkpoints" / f"step-{step:08d}" / "model.safetensors"))


# -- unit: the handlers --------------------------------------------------------------------
def test_handlers_are_installed_then_restored_and_a_third_signal_forces():
    before = signal.getsignal(signal.SIGTERM)
    with stop_requests() as stop:
        assert signal.getsignal(signal.SIGTERM) == stop.handle
        os.kill(os.getpid(), signal.SIGUSR1)
        assert wait_for(lambda: stop.requested, 5)
        assert stop.signum == signal.SIGUSR1
        stop.handle(signal.SIGTERM)  # a second: still a clean stop
        with pytest.raises(Stopped) as forced:
            stop.handle(signal.SIGTERM)  # a third: at once
        assert forced.value.forced and forced.value.exit_code == 128 + signal.SIGUSR1
    assert signal.getsignal(signal.SIGTERM) == before
    assert (exit_code(signal.SIGTERM), exit_code(signal.SIGINT)) == (143, 130)


def test_no_handlers_outside_the_main_thread():
    seen = {}

    def body():
        with stop_requests() as stop:
            seen["handler"] = signal.getsignal(signal.SIGTERM)
            seen["stop"] = stop

    before = signal.getsignal(signal.SIGTERM)
    t = threading.Thread(target=body)
    t.start()
    t.join()
    assert seen["handler"] == before and isinstance(seen["stop"], StopRequest)


def test_sleep_wakes_on_a_stop():
    stop = StopRequest()
    threading.Timer(0.1, stop.handle, args=(signal.SIGTERM,)).start()
    start = time.monotonic()
    stop.sleep(30)
    assert time.monotonic() - start < 5


# -- real runs: stopped, killed, resumed ----------------------------------------------------
def interrupt(spec_path, run_dir, sig, ready):
    """Run until ``ready(run_dir)``, send ``sig``; (returncode, stderr, last step logged
    before the signal)."""
    proc = subprocess.Popen(command(spec_path, run_dir), env={**ENV, STEP_SLEEP_ENV: "0.25"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: ready(run_dir) or proc.poll() is not None) \
            and proc.poll() is None, \
            proc.stderr.read().decode()[-2000:] if proc.poll() is not None else "too slow"
        logged = max(logged_steps(run_dir))
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, err.decode(), logged


def check_stopped(run_dir, db_path, sig, code, err, logged) -> int:
    """A clean stop: the exit status, one stderr line, a checkpoint at the next step, the DB
    row interrupted.  Returns the step it stopped at."""
    assert code == 128 + sig == {signal.SIGTERM: 143, signal.SIGINT: 130}[sig], err[-2000:]
    lines = err.strip().splitlines()
    assert len(lines) == 1, err  # exactly one line on stderr
    m = re.fullmatch(rf"difflaws run: {signal.Signals(sig).name} received; saved checkpoint "
                     rf"at step (\d+) in (.+); re-run the same command to resume", lines[0])
    assert m and Path(m.group(2)) == run_dir, lines[0]
    step = int(m.group(1))
    assert logged <= step <= logged + 3 and step < 16  # the next step boundary
    assert checkpoints(run_dir)[-1] == step and not (run_dir / "summary.json").exists()
    assert logged_steps(run_dir)[-1] <= step
    assert status(db_path, run_dir.name) == "interrupted"
    with sqlite3.connect(db_path) as con:
        assert con.execute("SELECT last_step FROM runs WHERE run_id=?",
                           (run_dir.name,)).fetchone()[0] == step
    return step


@pytest.mark.slow
def test_sigterm_sigint_sigkill_then_resume_is_bitwise_identical(tmp_path):
    """One run stopped three times (SIGTERM, then SIGINT after resuming, then SIGKILL after
    resuming again) and resumed ends bit for bit as an uninterrupted run."""
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(SPEC)
    ws = tmp_path / "ws"
    db_path = ws / "results.sqlite"
    reference, run_dir = ws / "reference", ws / "stopped"
    ref_proc = subprocess.Popen(command(spec_path, reference), env=ENV,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        code, err, logged = interrupt(spec_path, run_dir, signal.SIGTERM, logged_steps)
        first = check_stopped(run_dir, db_path, signal.SIGTERM, code, err, logged)

        code, err, logged = interrupt(spec_path, run_dir, signal.SIGINT,
                                      lambda d: logged_steps(d)[-1] > first)
        second = check_stopped(run_dir, db_path, signal.SIGINT, code, err, logged)
        assert second > first

        code, err, _ = interrupt(spec_path, run_dir, signal.SIGKILL,
                                 lambda d: checkpoints(d)[-1] > second)
        assert code == -signal.SIGKILL, err[-2000:]
        assert status(db_path, "stopped") == "running"  # the dead process could not say
        assert checkpoints(run_dir)[-1] < 16
        _, ref_err = ref_proc.communicate(timeout=300)
        assert ref_proc.returncode == 0, ref_err.decode()[-2000:]
    finally:
        if ref_proc.poll() is None:
            ref_proc.kill()
    # the next DB open reconciles the SIGKILLed run's stale row: nobody holds its lock
    with ResultsDB(db_path) as db:
        assert db.run("stopped")["status"] == "interrupted"
        assert db.run("reference")["status"] == "finished"

    resumed = subprocess.run(command(spec_path, run_dir), env=ENV, capture_output=True)
    assert resumed.returncode == 0, resumed.stderr.decode()[-2000:]
    assert curve(run_dir) == curve(reference)  # every logged figure, bit for bit
    full = json.loads((reference / "summary.json").read_text())
    summary = json.loads((run_dir / "summary.json").read_text())
    for key in ("val_nelbo", "train_nelbo", "tokens", "steps", "unigram_entropy"):
        assert summary[key] == full[key]
    got, want = weights(run_dir, 16), weights(reference, 16)
    assert got.keys() == want.keys() and all((got[k] == want[k]).all() for k in got)
    with sqlite3.connect(db_path) as con:
        rows = con.execute("SELECT step, train_nelbo, val_nelbo FROM metrics WHERE "
                           "run_id='stopped' ORDER BY step").fetchall()
    assert rows == [(r["step"], r["train_nelbo"], r.get("val_nelbo")) for r in curve(reference)]
    assert status(db_path, "stopped") == "finished"


# -- sweeps: members die with their parent ---------------------------------------------------


def member_pids(sweep_dir) -> dict[str, int]:
    out = {}
    for d in sweep_dir.glob("lr=*"):
        info = rundir.holder(d)
        if isinstance(info.get("pid"), int) and logged_steps(d):
            out[d.name] = info["pid"]
    return out


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_killing_only_the_sweep_parent_stops_its_members(tmp_path, sig):
    path = make_sweep(tmp_path, base=BASE.replace("steps = 8", "steps = 200"))
    sweep_dir = tmp_path / "out" / "two"
    env = {**ENV, STEP_SLEEP_ENV: "0.3"}
    parent = subprocess.Popen([sys.executable, "-m", "difflaws", "sweep", str(path), "--jobs", "2"],
                              env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    pids = {}
    try:
        assert wait_for(lambda: len(member_pids(sweep_dir)) == 2 or parent.poll() is not None,
                        every=0.2), "members did not start"
        assert parent.poll() is None, parent.stderr.read().decode()[-2000:]
        pids = member_pids(sweep_dir)
        os.kill(parent.pid, sig)  # the parent only, not its process group
        parent.wait(60)
        # every member gone within a few seconds (they checkpoint at their next step first)
        assert wait_for(lambda: not any(rundir.pid_alive(p) for p in pids.values()), 20), \
            {n: p for n, p in pids.items() if rundir.pid_alive(p)}
    finally:
        if parent.poll() is None:
            os.killpg(parent.pid, signal.SIGKILL)
        for pid in pids.values():
            if rundir.pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
    if sig == signal.SIGTERM:
        assert parent.returncode == 143
    with ResultsDB(sweep_dir / "results.sqlite") as db:
        rows = db.conn.execute("SELECT run_id, status FROM runs").fetchall()
    assert len(rows) == 2 and all(s == "interrupted" for _, s in rows), rows
    for name in pids:  # each left a checkpoint to resume from
        assert checkpoints(sweep_dir / name)


# -- distributed: every rank stops after the same step -----------------------------------------
def children_with_rank(parent: int) -> dict[int, int]:
    """rank -> PID of ``parent``'s child processes that torchrun started."""
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) != parent:
                continue
            env = (stat.parent / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        for item in env:
            if item.startswith(b"RANK="):
                out[int(item[5:])] = int(stat.parent.name)
    return out


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_signal_to_one_rank_stops_every_rank_after_the_same_step(tmp_path):
    import distributed_helpers as helpers

    spec_path = tmp_path / "tiny.toml"
    helpers.tiny_spec(spec_path)
    run_dir = tmp_path / "runs" / "two"
    args = ["--set=train.steps=60", "--set=train.log_every=1", "--set=train.eval_every=60",
            "--set=train.eval_batches=1", "--set=train.checkpoint_every=50",
            "--set=distributed.strategy=ddp"]
    launcher = subprocess.Popen([sys.executable, "-m", "difflaws", "run", str(spec_path), *args,
                                 "--nproc", "2", "--quiet", "--out", str(run_dir)],
                                env={**ENV, STEP_SLEEP_ENV: "0.2"}, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
    try:
        assert wait_for(lambda: logged_steps(run_dir) or launcher.poll() is not None), "slow"
        assert launcher.poll() is None, launcher.stderr.read().decode()[-3000:]
        ranks = children_with_rank(launcher.pid)
        assert sorted(ranks) == [0, 1], ranks
        os.kill(ranks[1], signal.SIGUSR1)  # rank 1 only: rank 0 learns it from the vote
        _, err = launcher.communicate(timeout=240)
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
    err = err.decode()
    assert launcher.returncode == 128 + signal.SIGUSR1, err[-3000:]
    said = [line for line in err.splitlines() if line.startswith("difflaws run: ")]
    assert len(said) == 1, err[-3000:]  # rank 0 alone speaks
    m = re.match(r"difflaws run: SIGUSR1 received; saved checkpoint at step (\d+) in ", said[0])
    assert m, said
    step = int(m.group(1))
    assert checkpoints(run_dir) == [step] and step < 50  # one (sharded) save, by both ranks
    assert logged_steps(run_dir)[-1] == step
    assert status(tmp_path / "runs" / "results.sqlite", "two") == "interrupted"
