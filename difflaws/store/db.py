"""The workspace's results database: runs, their resolved configs and metric histories.

One SQLite file per workspace, ``<workspace>/results.sqlite``, where the
workspace is the directory holding the run directories (the spec's
``out_dir``).  It is opened in WAL mode so readers (fitters, dashboards) never
block a training run, and every write is one short transaction, so several
runs of a sweep can share the file.  The tables and their columns are
documented in ``schema.sql``; fitters read ``runs`` joined with ``metrics``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import math
import os
import sqlite3
import sys
import time
from importlib import resources
from pathlib import Path

from difflaws.errors import UserError

DB_FILE = "results.sqlite"
METRIC_COLUMNS = ("step", "tokens", "flops_M", "flops_6P", "train_nelbo", "loss", "val_nelbo",
                  "lr", "grad_norm", "tokens_per_second", "wall_seconds")
# held (flock) while a damaged DB is moved aside and rebuilt, so only one process does it
REBUILD_LOCK = ".results.lock"
SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_FULL, SQLITE_NOTADB = 10, 11, 13, 26


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def schema() -> str:
    return resources.files("difflaws.store").joinpath("schema.sql").read_text()


class DatabaseFull(UserError):
    """SQLite could not write the results DB: the database or its disk is full."""


class DamagedDatabase(sqlite3.DatabaseError):
    """``PRAGMA quick_check`` found the file damaged."""


def _code(exc: BaseException) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None  # the primary of an extended code


def is_damage(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, DamagedDatabase) or _code(exc) in (SQLITE_CORRUPT, SQLITE_NOTADB) \
        or "malformed" in text or "not a database" in text


def is_full(exc: BaseException) -> bool:
    """The disk refused the write: full (SQLITE_FULL), or an I/O error such as a file-size
    limit (EFBIG surfaces as SQLITE_IOERR)."""
    return _code(exc) in (SQLITE_FULL, SQLITE_IOERR) \
        or "database or disk is full" in str(exc).lower()


def _component(name) -> bool:
    return isinstance(name, str) and name not in ("", ".", "..") and "/" not in name \
        and "\0" not in name


def _note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class ResultsDB:
    """The workspace DB.  Opening it (1) moves a damaged file aside, as
    ``results.sqlite.damaged-<timestamp>``, and rebuilds it from the run directories, which
    are the source of truth; (2) marks ``interrupted`` the runs it says are ``running`` but
    whose run directory nobody holds the lock of (their process died)."""

    def __init__(self, path, reconcile: bool = True):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = None
        try:
            self._open()
        except sqlite3.DatabaseError as exc:
            if is_full(exc):
                raise self.full(exc) from None
            if not is_damage(exc):
                raise
            self._recover(exc)
        if reconcile:
            self.reconcile()

    def _open(self) -> None:
        conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        try:
            self.conn = conn
            _use_wal(conn)
            conn.execute("PRAGMA foreign_keys=ON")
            conn.executescript(schema())
            self._add_missing_columns()
            problems = [r[0] for r in conn.execute("PRAGMA quick_check")]
            if problems != ["ok"]:
                raise DamagedDatabase("; ".join(problems[:3]))
            self._columns = {r[1] for r in conn.execute("PRAGMA table_info(runs)")}
        except BaseException:
            conn.close()
            self.conn = None
            raise

    def _recover(self, exc) -> None:
        from difflaws.store import rebuild

        with self._rebuild_lock():
            try:  # another process may have rebuilt it while we waited
                self._open()
                return
            except sqlite3.DatabaseError as again:
                if not is_damage(again):
                    raise
            moved = rebuild.move_aside(self.path)
            _note(f"difflaws: {self.path} is damaged ({exc}); moved it to {moved.name} and "
                  f"rebuilding it from the run directories in {self.path.parent}")
            self._open()
            runs, metrics = rebuild.rebuild(self, self.path.parent)
            _note(f"difflaws: rebuilt {self.path}: {runs} runs, {metrics} metric rows")

    @contextlib.contextmanager
    def _rebuild_lock(self):
        fd = os.open(self.path.parent / REBUILD_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC
                     | os.O_NOFOLLOW, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def full(self, exc) -> DatabaseFull:
        return DatabaseFull(
            f"cannot write the results DB {self.path}: {exc} (the disk refused the write: it "
            f"is full, or a file size limit was reached). Free space on the disk holding "
            f"{self.path.parent} (or move the "
            "workspace elsewhere), then re-run the same command: it resumes from the last "
            "checkpoint and rewrites the rows")

    @contextlib.contextmanager
    def writing(self):
        """One write: a full disk becomes a :class:`DatabaseFull`, a file damaged meanwhile a
        UserError naming it (the next open moves it aside and rebuilds it)."""
        try:
            with self.conn:
                yield self.conn
        except sqlite3.DatabaseError as exc:
            if is_full(exc):
                raise self.full(exc) from None
            if is_damage(exc):
                raise UserError(f"the results DB {self.path} is damaged ({exc}); re-run the "
                                "same command: opening it moves the damaged file aside and "
                                "rebuilds it from the run directories") from None
            raise

    def reconcile(self) -> list[str]:
        """Mark ``interrupted`` the ``running`` rows whose process is gone: nobody holds their
        run directory's lock (or the directory is gone).  Returns their run ids."""
        from difflaws import rundir

        stale = []
        rows = self.conn.execute("SELECT run_id, run_dir FROM runs WHERE status='running'")
        for run_id, recorded in rows.fetchall():
            where = self.path.parent / run_id if _component(run_id) else None
            if where is None or not where.is_dir():
                where = Path(recorded) if recorded and Path(recorded).is_dir() else None
            # while probing, a free lock is ours: no writer can start and register meanwhile
            with rundir.probe(where) if where is not None else contextlib.nullcontext(False) \
                    as held:
                if held:
                    continue
                with self.writing() as conn:
                    cur = conn.execute("UPDATE runs SET status='interrupted', updated_at=? "
                                       "WHERE run_id=? AND status='running'", (now(), run_id))
                if cur.rowcount:
                    stale.append(run_id)
        return stale

    def _add_missing_columns(self) -> None:
        # A workspace written by an older difflaws keeps its rows; new columns start NULL.
        fresh = sqlite3.connect(":memory:")
        fresh.executescript(schema())
        for table in ("runs", "metrics", "evaluations"):
            have = {r[1] for r in self.conn.execute(f"PRAGMA table_info({table})")}
            for _, name, kind, *_ in fresh.execute(f"PRAGMA table_info({table})"):
                if name not in have:
                    self.conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
        fresh.close()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def upsert_run(self, run_id: str, **fields) -> None:
        fields = {k: v for k, v in fields.items() if k in self._columns}
        fields["updated_at"] = now()
        exists = self.conn.execute("SELECT 1 FROM runs WHERE run_id=?", (run_id,)).fetchone()
        with self.writing():
            if exists:
                sets = ", ".join(f"{k}=?" for k in fields)
                self.conn.execute(f"UPDATE runs SET {sets} WHERE run_id=?",
                                  (*fields.values(), run_id))
            else:
                fields.setdefault("started_at", now())
                cols = ", ".join(["run_id", *fields])
                marks = ", ".join("?" * (len(fields) + 1))
                self.conn.execute(f"INSERT INTO runs ({cols}) VALUES ({marks})",
                                  (run_id, *fields.values()))

    def put_config(self, run_id: str, spec_toml: str, spec_json: dict) -> None:
        with self.writing():
            self.conn.execute("INSERT OR REPLACE INTO configs VALUES (?, ?, ?)",
                              (run_id, spec_toml, json.dumps(spec_json, sort_keys=True)))

    def log_metrics(self, run_id: str, record: dict) -> None:
        self.log_many(run_id, [record])

    def log_many(self, run_id: str, records) -> None:
        """Metric rows, in one transaction."""
        cols = ", ".join(("run_id", *METRIC_COLUMNS, "extra"))
        marks = ", ".join("?" * (len(METRIC_COLUMNS) + 2))
        rows = []
        for record in records:
            extra = {k: v for k, v in record.items() if k not in METRIC_COLUMNS}
            rows.append((run_id, *[record.get(c) for c in METRIC_COLUMNS],
                         json.dumps(extra, sort_keys=True) if extra else None))
        with self.writing():
            self.conn.execute("BEGIN")  # one transaction, not one per row
            self.conn.executemany(f"INSERT OR REPLACE INTO metrics ({cols}) VALUES ({marks})",
                                  rows)

    def drop_metrics_after(self, run_id: str, step: int) -> None:
        with self.writing():
            self.conn.execute("DELETE FROM metrics WHERE run_id=? AND step>?", (run_id, step))

    def metrics(self, run_id: str) -> list[dict]:
        cur = self.conn.execute(
            f"SELECT {', '.join(METRIC_COLUMNS)}, extra FROM metrics WHERE run_id=? ORDER BY step",
            (run_id,))
        out = []
        for row in cur:
            rec = dict(zip(METRIC_COLUMNS, row[:-1]))
            rec.update(json.loads(row[-1]) if row[-1] else {})
            out.append(rec)
        return out

    def record_evaluations(self, run_id: str, step: int, metrics) -> None:
        """``difflaws.metrics.metric.Metric`` rows of one evaluation, in one transaction; a
        non-finite value or stderr is stored as NULL."""
        def num(v):
            return None if v is None or not math.isfinite(v) else float(v)

        stamp = now()
        rows = [(run_id, int(step), m.name, num(m.value), num(m.stderr), m.n,
                 json.dumps(m.settings, sort_keys=True, default=str), stamp) for m in metrics]
        with self.writing():
            self.conn.execute("BEGIN")
            self.conn.executemany("INSERT INTO evaluations (run_id, step, metric, value, stderr, "
                                  "n, settings, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def evaluations(self, run_id: str) -> list[dict]:
        """The run's evaluation rows, oldest first, ``settings`` parsed."""
        out = _records(self.conn.execute("SELECT * FROM evaluations WHERE run_id=? ORDER BY rowid",
                                         (run_id,)))
        for rec in out:
            rec["settings"] = json.loads(rec["settings"]) if rec["settings"] else {}
        return out

    def run(self, run_id: str) -> dict | None:
        rows = _records(self.conn.execute("SELECT * FROM runs WHERE run_id=?", (run_id,)))
        return rows[0] if rows else None

    def runs(self) -> list[dict]:
        """Every run's row, by run id."""
        return _records(self.conn.execute("SELECT * FROM runs ORDER BY run_id"))

    def spec(self, run_id: str) -> dict | None:
        """The resolved spec the run registered (``configs.spec_toml``, parsed), or None."""
        from difflaws.spec.load import tomllib

        row = self.conn.execute("SELECT spec_toml FROM configs WHERE run_id=?",
                                (run_id,)).fetchone()
        return tomllib.loads(row[0]) if row else None

    def last_val_stderr(self, run_id: str) -> float | None:
        """The standard error of the run's last logged val NELBO, which training keeps in
        the metric row's ``extra``; None when that evaluation gave none (one batch)."""
        row = self.conn.execute("SELECT extra FROM metrics WHERE run_id=? AND val_nelbo IS "
                                "NOT NULL ORDER BY step DESC LIMIT 1", (run_id,)).fetchone()
        return json.loads(row[0]).get("val_nelbo_stderr") if row and row[0] else None


def _records(cur) -> list[dict]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur]


def workspace_db(run_dir) -> tuple[ResultsDB, str]:
    """The DB of the workspace holding ``run_dir``, and the run's id in it."""
    run_dir = Path(run_dir).resolve()
    return ResultsDB(run_dir.parent / DB_FILE), run_dir.name


WAL_ATTEMPTS = 100  # × 0.1 s: a sweep's members open a new DB at the same moment


def _use_wal(conn) -> None:
    """Switch to WAL once (the mode persists in the file).  The switch needs the database to
    itself and SQLite does not wait for it (no busy handler), so two members creating the
    DB together retry instead of one failing with "database is locked"."""
    for attempt in range(WAL_ATTEMPTS):
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
                return
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == WAL_ATTEMPTS - 1:
                raise
            time.sleep(0.1)
