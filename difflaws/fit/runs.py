"""Fit points from training output: run directories and the results DB.

Both give loss *curves* (one row per logged step) with the run's figures:

    run, step, tokens, loss, params (non-embedding), flops_per_token_M,
    flops_per_token_6P, batch_size (tokens per step), lr (base), noise,
    unique_tokens, epochs (where the run recorded its training pool)

``loss`` is the validation NELBO where a run logged one, else the training
NELBO.  A run that recorded ``unique_tokens`` and ``epochs`` (tokens / pool)
at its end gives them at every step, as min(tokens, pool) and tokens / pool;
an older DB or summary without them gives neither column.  The ``curves``
and ``isoflop`` fitters turn curves into isoFLOP points; ``chinchilla`` and
``powerlaw`` want one row per run, which ``final_points`` gives (the
``data-constrained`` fitter takes it itself).  The DB layout is
``difflaws/store/schema.sql``.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np

from difflaws.engine import METRICS_FILE as METRICS, SPEC_FILE as SPEC, SUMMARY_FILE as SUMMARY
from difflaws.fit.table import PointTable
from difflaws.errors import UserError
from difflaws.store.db import DB_FILE

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


COLUMNS = ("run", "step", "tokens", "loss", "params", "flops_per_token_M",
           "flops_per_token_6P", "batch_size", "lr", "noise", "unique_tokens", "epochs")
REPETITION = ("unique_tokens", "epochs")  # runs columns a DB older than them lacks


def _loss_rows(records: list[dict], where: str = "metrics"):
    key = "val_nelbo" if any(r.get("val_nelbo") is not None for r in records) else "train_nelbo"
    rows = []
    for r in records:
        if r.get(key) is None or not r.get("tokens"):
            continue
        values = (r.get("step"), r["tokens"], r[key])
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            raise UserError(f"{where}: a record has non-numeric step/tokens/{key} "
                            f"({values!r:.120}); fix or remove the line")
        rows.append(values)
    return rows


def _read_records(path: Path) -> list[dict]:
    """The metrics file's records, as training reads them (a cut last line is dropped)."""
    from difflaws.train.metrics import parse_records

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read ({exc}); restore the file or remove the run") \
            from None
    return parse_records(text, path)[0]


def _read_json(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: not readable JSON ({exc}); restore it or delete it (the "
                        "run's figures are then recomputed from its spec)") from None
    if not isinstance(value, dict):
        raise UserError(f"{path}: expected a JSON object; restore it or delete it")
    return value


def _read_spec(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # TOMLDecodeError is a ValueError
        raise UserError(f"{path}: not a readable spec ({exc}); restore it from the run's "
                        "original spec") from None


def _number(value) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
    return float(value) if ok else None


def pool_size(tokens, unique_tokens, epochs) -> float | None:
    """The run's training pool from its final figures; None when it never repeated (or did
    not say): unique_tokens = min(tokens, pool) and epochs = tokens / pool."""
    tokens, unique, epochs = _number(tokens), _number(unique_tokens), _number(epochs)
    if tokens is not None and epochs is not None:
        return tokens / epochs
    if tokens is not None and unique is not None and unique < tokens:
        return unique
    return None


def repetition_at(tokens, pool, recorded: bool) -> tuple:
    """(unique_tokens, epochs) after ``tokens`` of a run with training pool ``pool``.

    Without a pool, a run that ``recorded`` its unique tokens never repeated (every token
    seen is distinct, the epoch count below one is unknown); one that did not gives NaN."""
    if pool is not None:
        return min(tokens, pool), tokens / pool
    return (tokens if recorded else np.nan), np.nan


def noise_label(table: dict) -> str:
    """A run's noise label from its spec's ``[noise]`` table, as the noise kind words it
    (``NoiseConfig.label``); the bare kind when its plugin is not loaded."""
    kind = table.get("kind")
    if kind is None:
        return ""
    from difflaws.plugins import default_host

    try:
        config = default_host().structure("noise", table)
    except Exception:  # an uninstalled plugin's runs still group, by kind only
        return str(kind)
    return config.label(str(kind))


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
        records = _read_records(d / METRICS)
        summary = _read_json(d / SUMMARY)
        spec = _read_spec(d / SPEC)
        train, noise = _table(spec, "train"), _table(spec, "noise")
        figures = {k: summary.get(k) for k in ("non_embedding_params", "flops_per_token_M",
                                               "flops_per_token_6P")}
        if figures["non_embedding_params"] is None:
            try:
                from difflaws import engine

                figures.update(engine.figures(engine.load(d / SPEC)))
            except Exception as exc:  # the run's figures are needed for any law
                raise UserError(f"{d}: no {SUMMARY} with the run's figures and its {SPEC} "
                                f"cannot be loaded ({exc})") from None
        label = noise_label(noise)
        pool = pool_size(summary.get("tokens"), summary.get("unique_tokens"),
                         summary.get("epochs"))
        recorded = summary.get("unique_tokens") is not None
        bs, seq_len = train.get("batch_size"), train.get("seq_len", 1)
        bs_tokens = bs * seq_len if _is_int(bs) and _is_int(seq_len) and bs > 0 else np.nan
        lr = _table(spec, "optimizer").get("lr", np.nan)
        lr = lr if isinstance(lr, (int, float)) and not isinstance(lr, bool) else np.nan
        for step, tokens, loss in _loss_rows(records, str(d / METRICS)):
            cols["run"].append(str(d.relative_to(path)) if d != path else d.name)
            cols["step"].append(step)
            cols["tokens"].append(tokens)
            cols["loss"].append(loss)
            cols["params"].append(figures["non_embedding_params"])
            cols["flops_per_token_M"].append(figures["flops_per_token_M"])
            cols["flops_per_token_6P"].append(figures["flops_per_token_6P"])
            cols["batch_size"].append(bs_tokens)
            cols["lr"].append(lr)
            cols["noise"].append(label)
            for k, v in zip(REPETITION, repetition_at(tokens, pool, recorded)):
                cols[k].append(v)
    return _drop_empty(PointTable(cols, source=str(path)))


def _table(spec: dict, name: str) -> dict:
    value = spec.get(name, {})
    return value if isinstance(value, dict) else {}


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def load_results_db(path: Path) -> PointTable:
    """Every healthy run's metric history from a results DB (read-only)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        have = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
        repeat = ", ".join(c if c in have else "NULL" for c in REPETITION)
        runs = conn.execute(
            "SELECT run_id, noise_label, non_embedding_params, flops_per_token_M, "
            f"flops_per_token_6P, batch_size * seq_len, lr, tokens, {repeat} FROM runs "
            "WHERE status IN ('finished', 'running')").fetchall()
        cols = {k: [] for k in COLUMNS}
        for run_id, label, params, fM, f6, bs, lr, final, unique, epochs in runs:
            pool = pool_size(final, unique, epochs)
            rows = conn.execute("SELECT step, tokens, train_nelbo, val_nelbo FROM metrics "
                                "WHERE run_id = ? ORDER BY step", (run_id,)).fetchall()
            records = [dict(zip(("step", "tokens", "train_nelbo", "val_nelbo"), r)) for r in rows]
            for step, tokens, loss in _loss_rows(records, f"{path} (run {run_id})"):
                for k, v in zip(COLUMNS, (run_id, step, tokens, loss, params, fM, f6, bs, lr,
                                          label or "",
                                          *repetition_at(tokens, pool, unique is not None))):
                    cols[k].append(np.nan if v is None else v)
        conn.close()
    except sqlite3.Error as exc:
        raise UserError(f"{path}: cannot read the results DB ({exc}); pass a results DB "
                        "written by `difflaws run` (or rebuild it from the run directories)") \
            from None
    return _drop_empty(PointTable(cols, source=str(path)))


def _drop_empty(table: PointTable) -> PointTable:
    if len(table) == 0:
        raise UserError(f"{table.source}: no logged losses found")
    for name in ("batch_size", "lr") + REPETITION:
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


def one_row_per_run(table: PointTable) -> PointTable:
    """A law of final losses sees each run once: loss curves become their last points,
    with flops derived from C = 6·N·D like any one-row-per-run table."""
    from difflaws.fit.table import derive_columns, is_curve_table

    return derive_columns(final_points(table)) if is_curve_table(table) else table
