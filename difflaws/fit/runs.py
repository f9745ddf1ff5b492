"""Fit points from training output: run directories and the results DB.

Both give loss *curves* (one row per logged step) with the run's figures:

    run, step, tokens, loss, params (non-embedding), flops_per_token_M,
    flops_per_token_6P, batch_size (tokens per step), lr (base), noise

``loss`` is the validation NELBO where a run logged one, else the training
NELBO.  The ``curves`` and ``isoflop`` fitters turn curves into isoFLOP
points; ``chinchilla`` and ``powerlaw`` want one row per run, which
``final_points`` gives.  The DB layout is ``difflaws/store/schema.sql``.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np

from difflaws.engine import METRICS_FILE as METRICS, SPEC_FILE as SPEC, SUMMARY_FILE as SUMMARY
from difflaws.fit.table import PointTable
from difflaws.spec.errors import UserError
from difflaws.store.db import DB_FILE

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


COLUMNS = ("run", "step", "tokens", "loss", "params", "flops_per_token_M",
           "flops_per_token_6P", "batch_size", "lr", "noise")


def _loss_rows(records: list[dict]):
    key = "val_nelbo" if any(r.get("val_nelbo") is not None for r in records) else "train_nelbo"
    return [(r["step"], r["tokens"], r[key]) for r in records
            if r.get(key) is not None and r.get("tokens")]


def _noise_label(kind, shift) -> str:
    if kind is None:
        return ""
    return f"{kind}(shift={shift:g})" if shift is not None else str(kind)


def load_run_dirs(path: Path) -> PointTable:
    """A run directory, or a folder of them (searched recursively), or a workspace DB."""
    if (path / DB_FILE).is_file() and not (path / METRICS).is_file():
        return load_results_db(path / DB_FILE)
    dirs = [path] if (path / METRICS).is_file() else \
        sorted(p.parent for p in path.rglob(METRICS))
    if not dirs:
        raise UserError(f"{path}: no {METRICS} here or below; point at a run directory, a "
                        f"sweep directory, a {DB_FILE} or a CSV")
    cols = {k: [] for k in COLUMNS}
    for d in dirs:
        records = [json.loads(line) for line in (d / METRICS).read_text().splitlines()
                   if line.strip()]
        summary = json.loads((d / SUMMARY).read_text()) if (d / SUMMARY).is_file() else {}
        spec = tomllib.loads((d / SPEC).read_text()) if (d / SPEC).is_file() else {}
        train, noise = spec.get("train", {}), spec.get("noise", {})
        figures = {k: summary.get(k) for k in ("non_embedding_params", "flops_per_token_M",
                                               "flops_per_token_6P")}
        if figures["non_embedding_params"] is None:
            try:
                from difflaws import engine

                figures.update(engine.figures(engine.load(d / SPEC)))
            except Exception as exc:  # the run's figures are needed for any law
                raise UserError(f"{d}: no {SUMMARY} with the run's figures and its {SPEC} "
                                f"cannot be loaded ({exc})") from None
        bs = train.get("batch_size")
        bs_tokens = bs * train.get("seq_len", 1) if bs else np.nan
        for step, tokens, loss in _loss_rows(records):
            cols["run"].append(str(d.relative_to(path)) if d != path else d.name)
            cols["step"].append(step)
            cols["tokens"].append(tokens)
            cols["loss"].append(loss)
            cols["params"].append(figures["non_embedding_params"])
            cols["flops_per_token_M"].append(figures["flops_per_token_M"])
            cols["flops_per_token_6P"].append(figures["flops_per_token_6P"])
            cols["batch_size"].append(bs_tokens)
            cols["lr"].append(spec.get("optimizer", {}).get("lr", np.nan))
            cols["noise"].append(_noise_label(noise.get("kind"), noise.get("shift")))
    return _drop_empty(PointTable(cols, source=str(path)))


def load_results_db(path: Path) -> PointTable:
    """Every healthy run's metric history from a results DB (read-only)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        runs = conn.execute(
            "SELECT run_id, noise_kind, shift, non_embedding_params, flops_per_token_M, "
            "flops_per_token_6P, batch_size * seq_len, lr FROM runs "
            "WHERE status IN ('finished', 'running')").fetchall()
        cols = {k: [] for k in COLUMNS}
        for run_id, kind, shift, params, fM, f6, bs, lr in runs:
            rows = conn.execute("SELECT step, tokens, train_nelbo, val_nelbo FROM metrics "
                                "WHERE run_id = ? ORDER BY step", (run_id,)).fetchall()
            records = [dict(zip(("step", "tokens", "train_nelbo", "val_nelbo"), r)) for r in rows]
            for step, tokens, loss in _loss_rows(records):
                for k, v in zip(COLUMNS, (run_id, step, tokens, loss, params, fM, f6, bs, lr,
                                          _noise_label(kind, shift))):
                    cols[k].append(np.nan if v is None else v)
        conn.close()
    except sqlite3.Error as exc:
        raise UserError(f"{path}: cannot read the results DB ({exc})") from None
    return _drop_empty(PointTable(cols, source=str(path)))


def _drop_empty(table: PointTable) -> PointTable:
    if len(table) == 0:
        raise UserError(f"{table.source}: no logged losses found")
    for name in ("batch_size", "lr"):
        if not np.isfinite(table[name]).any():
            table.columns.pop(name)
    if not any(table["noise"]):
        table.columns.pop("noise")
    return table


def final_points(table: PointTable) -> PointTable:
    """One row per run: its last logged point (for laws fitted on final losses)."""
    runs = table["run"].astype(str)
    last = [np.flatnonzero(runs == r)[np.argmax(table["step"][runs == r])]
            for r in np.unique(runs)]
    return table.select(np.array(last))
