"""The SQLite results DB: schema, WAL, run upserts and metric histories."""

from __future__ import annotations

import sqlite3

from difflaws.store import ResultsDB, workspace_db


def test_schema_and_wal(tmp_path):
    with ResultsDB(tmp_path / "results.sqlite") as db:
        mode = db.conn.execute("PRAGMA journal_mode").fetchone()[0]
        rows = db.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        tables = {r[0] for r in rows}
    assert mode == "wal"
    assert {"runs", "configs", "metrics"} <= tables
    con = sqlite3.connect(tmp_path / "results.sqlite")
    cols = {r[1] for r in con.execute("PRAGMA table_info(runs)")}
    for needed in ("noise_kind", "noise_label", "noise_params", "data_metrics",
                   "non_embedding_params", "total_params", "flops_per_token_M", "flops_per_token_6P", "batch_size", "lr", "seq_len",
                   "status"):
        assert needed in cols


def test_an_older_workspace_gains_the_new_columns_and_keeps_its_rows(tmp_path):
    path = tmp_path / "results.sqlite"
    with sqlite3.connect(path) as old:  # the runs table as difflaws 0.1 wrote it, trimmed
        old.execute("CREATE TABLE runs (run_id TEXT PRIMARY KEY, name TEXT NOT NULL, "
                    "run_dir TEXT NOT NULL, status TEXT NOT NULL, shift REAL)")
        old.execute("INSERT INTO runs VALUES ('a', 'a', '/x/a', 'finished', 2.0)")
    ResultsDB(path).close()
    con = sqlite3.connect(path)
    cols = {r[1] for r in con.execute("PRAGMA table_info(runs)")}
    assert {"noise_label", "noise_params", "data_metrics", "final_val_nelbo"} <= cols
    assert con.execute("SELECT status, shift, noise_label FROM runs").fetchall() == \
        [("finished", 2.0, None)]


def test_runs_configs_and_metrics(tmp_path):
    db, run_id = workspace_db(tmp_path / "ws" / "run-a")
    assert db.path == (tmp_path / "ws" / "results.sqlite").resolve() and run_id == "run-a"
    db.upsert_run(run_id, name="a", run_dir="x", status="running", noise_kind="masked", lr=0.5,
                  not_a_column=1)
    db.upsert_run(run_id, status="finished", final_val_nelbo=2.5)
    row = db.run(run_id)
    assert (row["status"], row["noise_kind"], row["lr"], row["final_val_nelbo"]) == \
        ("finished", "masked", 0.5, 2.5)
    db.put_config(run_id, "name = 'a'\n", {"name": "a"})
    for step in (10, 20, 30):
        db.log_metrics(run_id, {"step": step, "tokens": step * 100, "train_nelbo": 3.0 / step,
                                "custom": step})
    db.log_metrics(run_id, {"step": 20, "tokens": 2000, "train_nelbo": 0.15, "val_nelbo": 0.2})
    hist = db.metrics(run_id)
    assert [m["step"] for m in hist] == [10, 20, 30]
    assert hist[1]["val_nelbo"] == 0.2 and hist[0]["custom"] == 10
    db.drop_metrics_after(run_id, 10)
    assert [m["step"] for m in db.metrics(run_id)] == [10]
    db.close()
    # a second connection (as a fitter would open) sees the committed rows
    other = sqlite3.connect(tmp_path / "ws" / "results.sqlite")
    assert other.execute("SELECT spec_toml FROM configs").fetchone()[0] == "name = 'a'\n"
