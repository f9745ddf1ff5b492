"""Rebuild a workspace's results DB from its run directories, the source of truth.

Each run directory holds everything its rows hold: ``provenance.json`` keeps the
run's registration (kinds, sizes, figures: the ``runs`` row as first written),
``spec.toml`` the resolved spec (the ``configs`` row), ``metrics.jsonl`` every logged
record (the ``metrics`` rows) and ``summary.json`` the final figures of a finished
run.  A run directory from before registrations were kept gets the columns its
spec alone gives (kinds, batch size, learning rate, ...).  Rebuilt status:
``finished`` with a readable summary, ``running`` while its lock is held,
``interrupted`` otherwise (a diverged or failed run rebuilds as interrupted).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import tomllib
from pathlib import Path

from difflaws import rundir


def move_aside(path) -> Path:
    """Rename ``path`` (and its -wal/-shm files) to ``NAME.damaged-<UTC timestamp>``."""
    path = Path(path)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
        n += 1
    os.replace(path, target)
    for suffix in ("-wal", "-shm"):
        side = Path(f"{path}{suffix}")
        if side.exists():
            os.replace(side, Path(f"{target}{suffix}"))
    return target


def run_dirs(workspace) -> list[Path]:
    workspace = Path(workspace)
    return sorted(p for p in workspace.iterdir()
                  if p.is_dir() and (p / rundir.SPEC_FILE).is_file())


def rebuild(db, workspace) -> tuple[int, int]:
    """Add every run directory of ``workspace`` to ``db``: (runs, metric rows) added."""
    runs = metrics = 0
    for run_dir in run_dirs(workspace):
        try:
            metrics += add_run(db, run_dir)
            runs += 1
        except (OSError, ValueError) as exc:
            print(f"difflaws: cannot rebuild the rows of {run_dir}: {exc}", file=sys.stderr)
    return runs, metrics


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def from_spec(spec: dict) -> dict:
    """The ``runs`` columns a resolved spec gives by itself."""
    def kind(table):
        value = spec.get(table)
        return value.get("kind") if isinstance(value, dict) else None

    train = spec.get("train") or {}
    return dict(name=spec.get("name"), seed=spec.get("seed"),
                noise_kind=kind("noise"), backbone_kind=kind("backbone"),
                parameterization_kind=kind("parameterization"), optimizer_kind=kind("optimizer"),
                tokenizer_kind=kind("tokenizer"), data_kind=kind("data"),
                lr=(spec.get("optimizer") or {}).get("lr"), batch_size=train.get("batch_size"),
                seq_len=train.get("seq_len"), steps=train.get("steps"),
                warmup_steps=train.get("warmup_steps"),
                cooldown_fraction=train.get("cooldown_fraction"))


def summary_columns(summary: dict) -> dict:
    """The ``runs`` columns a finished run's ``summary.json`` gives (those of a summary
    written before a column existed stay NULL)."""
    return dict(last_step=summary.get("steps"), tokens=summary.get("tokens"),
                final_val_nelbo=summary.get("val_nelbo"),
                unigram_entropy=summary.get("unigram_entropy"),
                wall_seconds=summary.get("wall_seconds"),
                unique_tokens=summary.get("unique_tokens"), epochs=summary.get("epochs"))


def add_run(db, run_dir) -> int:
    """One run directory's rows (replacing any it had); returns the metric rows added."""
    from difflaws.engine import read_summary
    from difflaws.train.metrics import parse_records

    run_dir = Path(run_dir)
    run_id = run_dir.resolve().name
    text = (run_dir / rundir.SPEC_FILE).read_text()
    spec = tomllib.loads(text)
    registration = _read_json(run_dir / rundir.PROVENANCE_FILE).get("registration")
    fields = {**from_spec(spec), **(registration if isinstance(registration, dict) else {})}
    fields["run_dir"] = str(run_dir.resolve())
    fields["name"] = fields.get("name") or run_id
    metrics_path = run_dir / rundir.METRICS_FILE
    records = []
    if metrics_path.is_file():
        records, _, _ = parse_records(metrics_path.read_text(errors="replace"), metrics_path)
    summary = read_summary(run_dir)
    if summary is not None:
        fields.update(status="finished", **summary_columns(summary))
    else:
        fields["status"] = "running" if rundir.held_by_someone(run_dir) else "interrupted"
        if records:
            fields.update(last_step=records[-1]["step"], tokens=records[-1].get("tokens"))
    db.upsert_run(run_id, **fields)
    db.put_config(run_id, text, spec)
    with db.writing() as conn:
        conn.execute("DELETE FROM metrics WHERE run_id=?", (run_id,))
    db.log_many(run_id, records)
    return len(records)
