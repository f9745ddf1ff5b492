"""Run directories are safe: names cannot escape, links are never followed, one writer at a
time, statuses are true, nothing left behind blocks a fix, and damaged files are recovered
or named (a partial metrics line, a truncated summary, an edited spec, a damaged DB)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_cli
from difflaws import cli, engine, rundir
from difflaws.errors import FieldError, UserError
from difflaws.plugins import PluginHost
from difflaws.store import ResultsDB
from difflaws.store.db import DB_FILE
from difflaws.sweep.tasks import DONE, PARTIAL, state
from difflaws.train.trainer import STEP_SLEEP_ENV

SPEC = Path(__file__).parent / "specs" / "tiny_markov.toml"  # 8 steps, one log line each
TIMING = ("tokens_per_second", "wall_seconds")
ENV = {"OMP_NUM_THREADS": "1"}


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def lines(run_dir) -> list[dict]:
    return [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]


def untimed(records):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in records]


def db_rows(db_path, table, run_id):
    con = sqlite3.connect(db_path)
    con.row_factory = sqlite3.Row
    order = " ORDER BY step" if table == "metrics" else ""
    rows = [dict(r) for r in con.execute(f"SELECT * FROM {table} WHERE run_id=?{order}",
                                         (run_id,))]
    con.close()
    return rows


# -- one real run, raced by a second writer; later tests work on copies of it -------------
@pytest.fixture(scope="module")
def raced(tmp_path_factory):
    """A run that sleeps per step, and a second `difflaws run` into the same directory
    started while it trains."""
    root = tmp_path_factory.mktemp("raced")
    run_dir = root / "ws" / "r"
    first = subprocess.Popen([sys.executable, "-m", "difflaws", "run", str(SPEC), "--quiet",
                              "--out", str(run_dir)],
                             env={**os.environ, **ENV, STEP_SLEEP_ENV: "0.3"},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        end = time.monotonic() + 240
        while rundir.holder(run_dir).get("pid") != first.pid and time.monotonic() < end:
            assert first.poll() is None, first.stderr.read()
            time.sleep(0.05)
        second = run_cli("run", SPEC, "--quiet", "--out", run_dir, env=ENV)
        still_running = first.poll() is None
        out, err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
    return {"root": root, "run_dir": run_dir, "first": first, "first_err": err,
            "second": second, "overlapped": still_running}


@pytest.mark.slow  # shares the `raced` run (~15 s, once)
def test_second_writer_is_refused_at_once_naming_the_holder(raced):
    second, first = raced["second"], raced["first"]
    assert raced["overlapped"]  # the second really ran while the first trained
    assert second.returncode == 2, second.stderr
    assert f"PID {first.pid}" in second.stderr and socket.gethostname() in second.stderr
    assert "in use by another difflaws run" in second.stderr
    assert "Traceback" not in second.stderr
    assert first.returncode == 0, raced["first_err"]
    run_dir = raced["run_dir"]
    assert [r["step"] for r in lines(run_dir)] == list(range(1, 9))  # exactly, in order
    rows = db_rows(run_dir.parent / DB_FILE, "metrics", "r")
    assert [r["step"] for r in rows] == list(range(1, 9))
    assert rundir.holder(run_dir)["pid"] == first.pid  # the loser wrote nothing


@pytest.mark.slow  # shares the `raced` run (~15 s, once)
def test_rerunning_a_finished_run_keeps_it_finished(raced):
    run_dir = raced["run_dir"]
    db_path = run_dir.parent / DB_FILE
    before = (run_dir / "metrics.jsonl").read_text()
    assert db_rows(db_path, "runs", "r")[0]["status"] == "finished"
    proc = run_cli("run", SPEC, "--out", run_dir, env=ENV)
    assert proc.returncode == 0, proc.stderr
    assert "already finished" in proc.stderr and "final val NELBO" in proc.stdout
    assert db_rows(db_path, "runs", "r")[0]["status"] == "finished"
    assert (run_dir / "metrics.jsonl").read_text() == before


# -- names ------------------------------------------------------------------------------------
BAD_NAMES = ["../../x", "a/b", ".", "..", "-rf", "a\\b", "x" * 10_000, "tab\there"]


@pytest.mark.parametrize("name", BAD_NAMES, ids=lambda n: repr(n[:12]))
def test_escaping_names_exit_2_and_write_nothing(tmp_path, capsys, monkeypatch, name):
    cwd = tmp_path / "a" / "b" / "c"
    cwd.mkdir(parents=True)
    monkeypatch.chdir(cwd)
    before = tree(tmp_path)
    code, _, err = run(capsys, "run", SPEC, "--set", f"name={json.dumps(name)}", "--quiet")
    assert code == 2 and "name:" in err, err
    assert tree(tmp_path) == before


def test_an_absolute_name_exits_2_in_a_real_process(tmp_path):
    target = tmp_path / "elsewhere"
    proc = run_cli("run", SPEC, "--set", f"name={json.dumps(str(target))}", "--quiet",
                   cwd=tmp_path, env=ENV)
    assert proc.returncode == 2 and "name:" in proc.stderr and "Traceback" not in proc.stderr
    assert not target.exists() and not (tmp_path / "runs").exists()


def test_the_name_validator():
    assert rundir.check_name("lr=0.1_seed-2.v3") is None
    rundir.validate_name(None, None, "")  # "": the spec file's stem, filled in later
    for name in BAD_NAMES:
        with pytest.raises(FieldError) as exc:
            rundir.validate_name(None, None, name)
        assert exc.value.field == "name" and len(str(exc.value)) < 400
    assert rundir.CHECKPOINT_DIR == __import__("difflaws.checkpoint.io").checkpoint.io.DIR


@pytest.mark.parametrize("file", ["../escape.csv", "/tmp/escape.csv", "sub/../../e.csv",
                                  "metrics.jsonl", ".."])
def test_csv_logger_file_cannot_escape(tmp_path, capsys, file):
    path = tmp_path / "spec.toml"
    path.write_text(SPEC.read_text() + f'\n[[loggers]]\nkind = "csv"\nfile = "{file}"\n')
    before = tree(tmp_path)
    code, _, err = run(capsys, "run", path, "--out", tmp_path / "ws" / "r", "--quiet")
    assert code == 2 and "loggers.0.file" in err, err
    assert tree(tmp_path) == before


# -- links ------------------------------------------------------------------------------------
@pytest.mark.parametrize("link", ["checkpoints", "metrics.jsonl"])
@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
def test_a_symlink_in_the_run_dir_is_refused_and_its_target_untouched(tmp_path, capsys, link,
                                                                     force):
    target = tmp_path / "precious"
    if link == "checkpoints":
        target.mkdir()
        (target / "keep.txt").write_text("mine")
    else:
        target.write_text("mine\n")
    run_dir = tmp_path / "ws" / "r"
    run_dir.mkdir(parents=True)
    (run_dir / link).symlink_to(target)
    snapshot = tree(tmp_path)
    code, _, err = run(capsys, "run", SPEC, "--out", run_dir, "--quiet",
                       *(["--force"] if force else []))
    assert code == 2 and f"{run_dir / link} is a symbolic link" in err, err
    assert (run_dir / link).is_symlink()
    assert (target / "keep.txt" if target.is_dir() else target).read_text().startswith("mine")
    assert tree(tmp_path) - snapshot <= {"ws/r/.lock"}  # nothing else written anywhere


def test_force_start_over_unlinks_links_and_never_follows_them(tmp_path):
    host = PluginHost(entry_points=False)
    spec = engine.load(SPEC, host=host)
    run_dir = tmp_path / "ws" / "r"
    run_dir.mkdir(parents=True)
    (run_dir / "spec.toml").write_text("name = 'another spec'\n")
    outside = tmp_path / "outside"
    (outside / "step-00000002").mkdir(parents=True)
    (outside / "step-00000002" / "model.safetensors").write_text("theirs")
    (outside / "metrics.jsonl").write_text("theirs\n")
    (run_dir / "checkpoints").symlink_to(outside)
    (run_dir / "metrics.jsonl").symlink_to(outside / "metrics.jsonl")
    (run_dir / "summary.json").symlink_to(outside / "nowhere.json")  # a dangling one too
    with pytest.raises(UserError, match="different spec"):
        engine.check_run_dir(spec, run_dir, host=host)
    engine.check_run_dir(spec, run_dir, force=True, host=host)  # what `run --force` does
    assert sorted(p.name for p in run_dir.iterdir()) == []
    assert (outside / "step-00000002" / "model.safetensors").read_text() == "theirs"
    assert (outside / "metrics.jsonl").read_text() == "theirs\n"


def test_a_linked_checkpoint_inside_checkpoints_is_refused(tmp_path, capsys):
    run_dir = tmp_path / "ws" / "r"
    (run_dir / "checkpoints").mkdir(parents=True)
    (tmp_path / "other").mkdir()
    (run_dir / "checkpoints" / "step-00000004").symlink_to(tmp_path / "other")
    code, _, err = run(capsys, "run", SPEC, "--out", run_dir, "--quiet")
    assert code == 2 and "step-00000004 is a symbolic link" in err


def test_csv_logger_never_appends_through_a_link(tmp_path):
    from difflaws.builtins.loggers import CsvLogger

    (tmp_path / "target.csv").write_text("x\n")
    (tmp_path / "m.csv").symlink_to(tmp_path / "target.csv")
    with pytest.raises(UserError, match="symbolic link"):
        CsvLogger(tmp_path / "m.csv", ["step"])
    assert (tmp_path / "target.csv").read_text() == "x\n"


# -- the lock -----------------------------------------------------------------------------------
HOLDER = """
import sys, time
from difflaws import rundir
with rundir.hold(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


def test_the_lock_dies_with_its_process_and_stale_running_rows_are_reconciled(tmp_path):
    run_dir = tmp_path / "ws" / "r"
    run_dir.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(run_dir)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with ResultsDB(tmp_path / "ws" / DB_FILE) as db:
            db.upsert_run("r", name="r", run_dir=str(run_dir), status="running")
            db.upsert_run("gone", name="gone", run_dir=str(tmp_path / "nowhere"),
                          status="running")
        with ResultsDB(tmp_path / "ws" / DB_FILE) as db:  # a live holder: still running
            assert db.run("r")["status"] == "running"
        with pytest.raises(rundir.RunDirBusy, match=f"PID {holder.pid} on host"):
            with rundir.hold(run_dir):
                pass
        with rundir.probe(run_dir) as held:
            assert held
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with ResultsDB(tmp_path / "ws" / DB_FILE) as db:  # nobody holds it now
        assert db.run("r")["status"] == "interrupted"
        assert db.run("gone")["status"] == "interrupted"  # no directory: nobody runs it
    with rundir.hold(run_dir), rundir.hold(run_dir):  # free again, and re-entrant
        assert rundir.holder(run_dir)["pid"] == os.getpid()
        with ResultsDB(tmp_path / "ws" / DB_FILE) as db:
            db.upsert_run("r", status="running")
        with ResultsDB(tmp_path / "ws" / DB_FILE) as db:  # our own lock counts as held
            assert db.run("r")["status"] == "running"


# -- nothing left behind ------------------------------------------------------------------------
def test_a_failed_start_leaves_nothing_that_blocks_the_fix(tmp_path, capsys):
    path = tmp_path / "spec.toml"
    base = SPEC.read_text().replace('kind = "markov"\nn_symbols = 8\ntrain_tokens = 20000\n'
                                    'val_tokens = 2000', 'kind = "text"\npaths = ["{}"]')
    path.write_text(base.format(tmp_path / "none" / "*.txt"))
    run_dir = tmp_path / "ws" / "r"
    code, _, err = run(capsys, "run", path, "--out", run_dir, "--quiet")
    assert code == 2 and "matches no file" in err
    assert not (run_dir / "spec.toml").exists()
    # the corrected spec is not refused as "a different spec"
    (tmp_path / "corpus.txt").write_text("some text to train on\n" * 50)
    path.write_text(base.format(tmp_path / "corpus.txt"))
    host = PluginHost(entry_points=False)
    fixed = engine.load(path, host=host)
    engine.check_run_dir(fixed, run_dir, host=host)
    # the library path too: open_run_dir wrote the spec, the failed start removes it
    spec = engine.load(path, host=host)
    opened = engine.open_run_dir(spec, str(tmp_path / "ws" / "lib"), host=host)
    assert (opened / "spec.toml").exists()
    from difflaws.train.trainer import train

    (tmp_path / "corpus.txt").unlink()
    with pytest.raises(UserError):
        train(spec, opened, quiet=True, host=host)
    assert not (opened / "spec.toml").exists() and not (opened / "spec.sha256").exists()


# -- damaged files --------------------------------------------------------------------------------
def copy_run(raced, tmp_path, with_db=False) -> Path:
    src = raced["run_dir"]
    dst = tmp_path / "ws" / src.name
    shutil.copytree(src, dst, symlinks=True)
    if with_db:
        shutil.copy(src.parent / DB_FILE, dst.parent / DB_FILE)
    return dst


@pytest.mark.slow  # shares the `raced` run (~15 s, once)
@pytest.mark.parametrize("damage", ["truncated", "edited"])
def test_an_altered_spec_toml_is_named_with_the_fix(raced, tmp_path, capsys, damage):
    run_dir = copy_run(raced, tmp_path)
    text = (run_dir / "spec.toml").read_text()
    (run_dir / "spec.toml").write_text(text[:len(text) // 2] if damage == "truncated"
                                       else text.replace("steps = 8", "steps = 9"))
    code, _, err = run(capsys, "run", SPEC, "--out", run_dir, "--quiet")
    assert code == 2 and f"{run_dir / 'spec.toml'} is not the spec this run started with" in err
    assert "spec.sha256" in err and "--force" in err and "SELECT spec_toml" in err
    with pytest.raises(UserError, match="edited or truncated"):
        engine.load_run(run_dir)
    code, _, err = run(capsys, "eval", run_dir, "--batches", "1")
    assert code == 2 and "spec.toml is not the spec this run started with" in err


@pytest.mark.slow
def test_a_partial_metrics_line_and_a_truncated_summary_are_recovered(raced, tmp_path):
    run_dir = copy_run(raced, tmp_path)
    records = (run_dir / "metrics.jsonl").read_text()
    summary = (run_dir / "summary.json").read_text()
    (run_dir / "summary.json").write_text(summary[: len(summary) // 2])
    with (run_dir / "metrics.jsonl").open("a") as f:
        f.write('{"step": 9, "tokens": 11')  # a write cut short
    assert state(run_dir) == PARTIAL  # a damaged summary is not "done"
    proc = run_cli("run", SPEC, "--quiet", "--out", run_dir, env=ENV)
    assert proc.returncode == 0, proc.stderr
    assert f"{run_dir / 'summary.json'} is damaged" in proc.stderr
    assert f"dropped the partial last line of {run_dir / 'metrics.jsonl'}" in proc.stderr
    assert (run_dir / "metrics.jsonl").read_text() == records
    again = json.loads((run_dir / "summary.json").read_text())
    original = json.loads(summary)
    assert {k: v for k, v in again.items() if k not in TIMING} == \
        {k: v for k, v in original.items() if k not in TIMING}
    assert state(run_dir) == DONE
    rows = db_rows(run_dir.parent / DB_FILE, "metrics", "r")
    assert [r["step"] for r in rows] == list(range(1, 9))
    assert db_rows(run_dir.parent / DB_FILE, "runs", "r")[0]["status"] == "finished"


def test_metrics_log_repairs_only_the_last_line(tmp_path):
    from difflaws.train.metrics import MetricsLog

    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1}\n{"step": 2}\n{"st')
    MetricsLog(tmp_path)
    assert path.read_text() == '{"step": 1}\n{"step": 2}\n'
    path.write_text('{"step": 1}\n{"step": 2}')  # complete, without its newline: kept
    MetricsLog(tmp_path)
    assert path.read_text() == '{"step": 1}\n{"step": 2}\n'
    path.write_text('{"step": 1}\ngarbage\n{"step": 3}\n')
    with pytest.raises(UserError, match=r"metrics.jsonl:2 is not a metrics record"):
        MetricsLog(tmp_path)


def corrupt(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "not-a-database":
        data[:100] = b"\x00garbage" * 12 + b"\x00" * 4
    else:  # malformed: scribble over every page but the first (the schema stays readable)
        for page in range(1, len(data) // 4096):
            data[page * 4096 + 8: page * 4096 + 400] = b"\xff" * 392
    path.write_bytes(bytes(data))


@pytest.mark.slow  # shares the `raced` run (~15 s, once)
@pytest.mark.parametrize("how", ["not-a-database", "malformed"])
def test_a_damaged_db_is_moved_aside_and_rebuilt_with_no_rows_lost(raced, tmp_path, how):
    run_dir = copy_run(raced, tmp_path, with_db=True)
    db_path = run_dir.parent / DB_FILE
    want = {t: db_rows(db_path, t, "r") for t in ("runs", "configs", "metrics")}
    assert len(want["runs"]) == 1 and len(want["metrics"]) == 8
    corrupt(db_path, how)
    with ResultsDB(db_path) as db:
        got = {t: db_rows(db_path, t, "r") for t in ("runs", "configs", "metrics")}
        assert db.conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    moved = list(db_path.parent.glob(f"{DB_FILE}.damaged-*"))
    assert len(moved) == 1  # kept for inspection
    assert got["metrics"] == want["metrics"]  # every metric row, every value
    assert [r["step"] for r in got["metrics"]] == [r["step"] for r in lines(run_dir)]
    stamps = ("started_at", "updated_at", "run_dir")  # run_dir: this copy's, not the raced one's
    assert {k: v for k, v in got["runs"][0].items() if k not in stamps} == \
        {k: v for k, v in want["runs"][0].items() if k not in stamps}
    assert got["runs"][0]["run_dir"] == str(run_dir.resolve())
    assert got["configs"][0]["spec_toml"] == want["configs"][0]["spec_toml"]


@pytest.mark.slow
def test_a_full_db_is_one_clear_error_and_the_checkpoint_is_kept(tmp_path, capsys, monkeypatch):
    from difflaws.store import db as db_module

    full = sqlite3.connect(":memory:")
    full.execute("PRAGMA max_page_count = 2")
    full.execute("CREATE TABLE t (b BLOB)")
    real = db_module.ResultsDB.log_many

    def log_many(self, run_id, records):
        if records and records[0].get("step") == 5:
            with self.writing():  # what SQLite raises when the disk fills up
                full.execute("INSERT INTO t VALUES (zeroblob(100000))")
        return real(self, run_id, records)

    run_dir = tmp_path / "ws" / "r"
    with monkeypatch.context() as m:
        m.setattr(db_module.ResultsDB, "log_many", log_many)
        code, _, err = run(capsys, "run", SPEC, "--out", run_dir, "--quiet")
    assert code == 2, err
    assert f"{run_dir.parent / DB_FILE}" in err and "full" in err and "re-run" in err
    assert "step-00000004 is kept" in err
    assert len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "run", SPEC, "--out", run_dir, "--quiet")  # space freed
    assert code == 0, err
    rows = db_rows(run_dir.parent / DB_FILE, "metrics", "r")
    assert [(r["step"], r["train_nelbo"]) for r in rows] == \
        [(r["step"], r["train_nelbo"]) for r in lines(run_dir)]  # no row lost
    assert [r["step"] for r in rows] == list(range(1, 9))
