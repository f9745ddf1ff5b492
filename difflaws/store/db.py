"""The workspace's results database: runs, their resolved configs and metric histories.

One SQLite file per workspace, ``<workspace>/results.sqlite``, where the
workspace is the directory holding the run directories (the spec's
``out_dir``).  It is opened in WAL mode so readers (fitters, dashboards) never
block a training run, and every write is one short transaction, so several
runs of a sweep can share the file.  The tables and their columns are
documented in ``schema.sql``; fitters read ``runs`` joined with ``metrics``.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from importlib import resources
from pathlib import Path

DB_FILE = "results.sqlite"
METRIC_COLUMNS = ("step", "tokens", "flops_M", "flops_6P", "train_nelbo", "loss", "val_nelbo",
                  "lr", "grad_norm", "tokens_per_second", "wall_seconds")


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def schema() -> str:
    return resources.files("difflaws.store").joinpath("schema.sql").read_text()


class ResultsDB:
    def __init__(self, path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.executescript(schema())
        self._columns = {r[1] for r in self.conn.execute("PRAGMA table_info(runs)")}

    def close(self) -> None:
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def upsert_run(self, run_id: str, **fields) -> None:
        fields = {k: v for k, v in fields.items() if k in self._columns}
        fields["updated_at"] = now()
        exists = self.conn.execute("SELECT 1 FROM runs WHERE run_id=?", (run_id,)).fetchone()
        with self.conn:
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
        with self.conn:
            self.conn.execute("INSERT OR REPLACE INTO configs VALUES (?, ?, ?)",
                              (run_id, spec_toml, json.dumps(spec_json, sort_keys=True)))

    def log_metrics(self, run_id: str, record: dict) -> None:
        extra = {k: v for k, v in record.items() if k not in METRIC_COLUMNS}
        values = [record.get(c) for c in METRIC_COLUMNS]
        cols = ", ".join(("run_id", *METRIC_COLUMNS, "extra"))
        marks = ", ".join("?" * (len(METRIC_COLUMNS) + 2))
        with self.conn:
            self.conn.execute(
                f"INSERT OR REPLACE INTO metrics ({cols}) VALUES ({marks})",
                (run_id, *values, json.dumps(extra, sort_keys=True) if extra else None))

    def drop_metrics_after(self, run_id: str, step: int) -> None:
        with self.conn:
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

    def run(self, run_id: str) -> dict | None:
        cur = self.conn.execute("SELECT * FROM runs WHERE run_id=?", (run_id,))
        row = cur.fetchone()
        return dict(zip([d[0] for d in cur.description], row)) if row else None


def workspace_db(run_dir) -> tuple[ResultsDB, str]:
    """The DB of the workspace holding ``run_dir``, and the run's id in it."""
    run_dir = Path(run_dir).resolve()
    return ResultsDB(run_dir.parent / DB_FILE), run_dir.name
