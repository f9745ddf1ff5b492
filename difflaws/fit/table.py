"""The points a fitter sees, and how they are read from CSVs, runs and DBs.

A ``PointTable`` is a small column store: numeric columns are float64
arrays, text columns (``noise``, ``run``, ...) are object arrays, and every
row remembers where it came from (``"file.csv:17"``) so that bad input can
be reported by row.  Standard column names:

    params, tokens, flops, loss       the law's axes (N, D, C, L)
    batch_size, lr, noise, budget     optional sweep coordinates
    run, step                         loss-curve points (several rows per run)
    unique_tokens, epochs             repeated data: distinct tokens seen (min(tokens, pool))
                                      and tokens / pool; unique_params overrides U_N
                                      (the data-constrained law, docs/fitting.md §8)
    flops_per_token_M, flops_per_token_6P   per-run FLOP conventions (curves)
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from difflaws.errors import UserError

TEXT_COLUMNS = ("noise", "run", "dataset", "experiment")

# Known spellings of the standard columns, including those of the reference
# data sets (Epoch's Chinchilla extraction, the Llama 3 isoFLOP digitisation,
# Porian et al.'s optimal points).  Matched case-insensitively.
ALIASES = {
    "params": ("params", "model size", "n", "non_emb_params", "parameters", "n_star", "model_size"),
    "tokens": ("tokens", "training_tokens", "d", "t_star", "data", "training tokens"),
    "flops": ("flops", "training flop", "compute", "c", "training_flops", "compute_budget"),
    "loss": ("loss", "validation_loss", "l", "loss_star", "nelbo", "final_loss", "val_loss"),
    "budget": ("budget", "target_flops", "compute_budget"),
    "batch_size": ("batch_size", "batch", "batch_size_tokens"),
    "lr": ("lr", "learning_rate", "eta"),
    "noise": ("noise", "noise_type"),
    "unique_tokens": ("unique_tokens", "unique tokens", "unique_data", "u_d"),
    "epochs": ("epochs", "epoch", "n_epochs"),
    "unique_params": ("unique_params", "unique parameters", "u_n"),
}


class PointTable:
    """Named equal-length columns plus a provenance label per row."""

    def __init__(self, columns: dict, rows=None, source: str = "<table>"):
        self.columns = {k: _as_column(k, v) for k, v in columns.items()}
        lengths = {len(v) for v in self.columns.values()}
        if len(lengths) > 1:
            raise UserError(f"{source}: columns have different lengths {sorted(lengths)}")
        self.n = lengths.pop() if lengths else 0
        self.rows = np.asarray(rows if rows is not None else
                               [f"{source}:row {i + 1}" for i in range(self.n)], dtype=object)
        self.source = source

    def __len__(self) -> int:
        return self.n

    def __contains__(self, name: str) -> bool:
        return name in self.columns

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.columns[name]
        except KeyError:
            have = ", ".join(self.columns) or "none"
            raise UserError(f"{self.source}: no column {name!r} (columns: {have}); "
                            "map one with --columns NAME=HEADER") from None

    def require(self, *names: str, hint: str = "") -> None:
        """Fail now, with the column listing, rather than deep inside a fitter; ``hint``
        says what the column is for and how to get it."""
        for name in names:
            if hint and name not in self.columns:
                have = ", ".join(self.columns) or "none"
                raise UserError(f"{self.source}: no column {name!r} (columns: {have}); {hint}")
            self[name]

    def select(self, mask) -> PointTable:
        mask = np.asarray(mask)
        return PointTable({k: v[mask] for k, v in self.columns.items()}, self.rows[mask],
                          self.source)

    def with_columns(self, **new) -> PointTable:
        return PointTable({**self.columns, **new}, self.rows, self.source)

    def groups(self, by: str | None):
        """Yield ``(value, subtable)`` per distinct value of column ``by``."""
        if not by:
            yield None, self
            return
        values = self[by]
        for value in sorted(set(values.tolist()), key=str):
            yield value, self.select(values == value)

    def to_csv(self) -> str:
        """The table as CSV text that ``read_csv`` reads back to the same columns
        (numbers at full precision: ``repr`` of a float round-trips)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(list(self.columns))
        for i in range(self.n):
            writer.writerow([_cell(v[i]) for v in self.columns.values()])
        return out.getvalue()

    def drop_highest(self, k: int, column: str = "loss") -> PointTable:
        """Epoch's rule: drop the ``k`` rows with the highest ``column``."""
        if k < 0:
            raise UserError(f"{self.source}: cannot drop {k} points; give 0 or more "
                            "(--drop-highest K)")
        if k == 0:
            return self
        if k >= self.n:
            raise UserError(f"{self.source}: cannot drop {k} of {self.n} points; drop fewer "
                            f"(--drop-highest {max(self.n - 1, 0)} at most)")
        keep = np.ones(self.n, bool)
        keep[np.argsort(self[column], kind="stable")[self.n - k:]] = False
        return self.select(keep)


def _as_column(name, values) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind in "biuf":
        return arr.astype(np.float64)
    if name in TEXT_COLUMNS:
        return arr.astype(object)
    try:
        return np.array([_to_float(v) for v in arr.tolist()], dtype=np.float64)
    except ValueError:
        return arr.astype(object)


def _cell(value) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(float(value))  # np.float64's repr names its type
    return str(value)


def _to_float(v) -> float:
    if v is None or (isinstance(v, str) and v.strip() == ""):
        return math.nan
    return float(v)


# -- loading -------------------------------------------------------------

def load_points(source, columns: dict | None = None, derive: bool = True) -> PointTable:
    """Read fit points from a CSV, a run or sweep directory, or a results DB.

    ``columns`` maps standard names to source headers, e.g.
    ``{"params": "Model Size", "flops": "Training FLOP"}``; unmapped standard
    columns are recognised by their usual spellings (``ALIASES``).  Missing
    ``tokens``/``flops``/``params`` are derived from the other two under
    C = 6·N·D when ``derive`` is set.
    """
    if isinstance(source, PointTable):
        table = source
    else:
        path = Path(source)
        if not path.exists():
            raise UserError(f"{path}: no such file or directory; check the path (a CSV, a run "
                            "or sweep directory, or a results DB)")
        if path.is_dir():
            from difflaws.fit.runs import load_run_dirs

            table = load_run_dirs(path)
        elif path.suffix.lower() in (".db", ".sqlite", ".sqlite3"):
            from difflaws.fit.runs import load_results_db

            table = load_results_db(path)
        else:
            table = read_csv(path, columns)
    if derive:
        table = derive_columns(table)
    check_values(table)
    return table


def read_csv(path: Path, columns: dict | None = None) -> PointTable:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            try:
                header = next(reader)
            except StopIteration:
                raise UserError(f"{path}: empty CSV; give a header row and one row per "
                                "point") from None
            records = [r for r in reader if any(c.strip() for c in r)]
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save the "
                        "CSV as UTF-8") from None
    except csv.Error as exc:
        raise UserError(f"{path}: malformed CSV ({exc}); fix the file") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror or exc}); check the path and its "
                        "permissions") from None
    header = [h.strip() for h in header]
    for i, r in enumerate(records):
        if len(r) != len(header):
            raise UserError(f"{path}:{i + 2}: {len(r)} fields, header has {len(header)}; "
                            "fix or remove the row")
    raw = {h: [r[j] for r in records] for j, h in enumerate(header)}
    mapping = resolve_columns(header, columns or {}, str(path))
    cols = {std: raw[h] for std, h in mapping.items()}
    for h in header:  # keep unmapped columns too (for --by and grouping)
        if h not in mapping.values() and h not in cols:
            cols[h] = raw[h]
    try:
        return PointTable(cols, rows=[f"{path}:{i + 2}" for i in range(len(records))],
                          source=str(path))
    except ValueError as exc:
        raise UserError(f"{path}: {exc}") from None


def resolve_columns(header, explicit: dict, source: str) -> dict:
    """Map each standard column to a header: explicit first, then aliases."""
    lower = {h.lower(): h for h in header}
    mapping = {}
    for std, h in explicit.items():
        if h not in header:
            raise UserError(f"{source}: --columns {std}={h!r}: no such header "
                            f"(headers: {', '.join(header)}); map one of those")
        mapping[std] = h
    for std, spellings in ALIASES.items():
        if std in mapping:
            continue
        for s in spellings:
            if s in lower:
                mapping[std] = lower[s]
                break
    # a header may legitimately feed two standard names (compute_budget is
    # both the budget and the flops of an isoFLOP point).
    return mapping


def derive_columns(table: PointTable) -> PointTable:
    """Fill in the third of params/tokens/flops from the other two (C = 6ND), and
    unique_tokens from tokens and epochs."""
    have = {c for c in ("params", "tokens", "flops") if c in table}
    for name in sorted(have):
        _require_numeric(table, name)
    new = {}
    if have == {"flops", "params"}:
        new["tokens"] = table["flops"] / (6.0 * table["params"])
    elif have == {"flops", "tokens"}:
        new["params"] = table["flops"] / (6.0 * table["tokens"])
    elif have == {"params", "tokens"} and not is_curve_table(table):
        # a loss curve's compute follows the run's FLOP convention (the curves law's
        # ``convention``), so only one-point-per-run tables get C = 6ND
        new["flops"] = 6.0 * table["params"] * table["tokens"]
    tokens = new["tokens"] if "tokens" in new else table["tokens"] if "tokens" in have else None
    if "epochs" in table and "unique_tokens" not in table and tokens is not None:
        # epochs = tokens / pool, and the distinct tokens seen are min(tokens, pool); an
        # epoch count that is not positive gives none, which the law using it reports by row
        epochs = _require_numeric(table, "epochs")
        new["unique_tokens"] = np.where(epochs > 0, tokens / np.maximum(epochs, 1.0), np.nan)
    return table.with_columns(**new) if new else table


def is_curve_table(table: PointTable) -> bool:
    """Several rows of one run: loss curves rather than one point per run."""
    if "run" not in table:
        return False
    runs = table["run"].astype(str)
    return np.unique(runs).size < runs.size


def check_values(table: PointTable) -> None:
    """Reject NaN, infinite or non-positive values in the law's columns, naming the row."""
    for name in ("loss", "params", "tokens", "flops", "batch_size", "lr", "budget"):
        if name in table:
            check_positive(table, name)


def check_positive(table: PointTable, name: str) -> None:
    """Reject NaN, infinite or non-positive values of column ``name``, naming the row.

    Columns only some laws use (``unique_tokens``, ...) are checked by those laws, so a
    source where some runs lack them still serves the others."""
    col = _require_numeric(table, name)
    bad = ~np.isfinite(col) | (col <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        what = "missing or NaN" if not np.isfinite(col[i]) or math.isnan(col[i]) else \
            f"{col[i]:g}, not positive"
        more = f" (and {int(bad.sum()) - 1} more rows)" if bad.sum() > 1 else ""
        raise UserError(f"{table.rows[i]}: {name} is {what}{more}; fix or remove the row")


def _require_numeric(table: PointTable, name: str) -> np.ndarray:
    col = table[name]
    if col.dtype == object:
        bad = next((i for i, v in enumerate(col.tolist()) if not _is_number(v)), 0)
        raise UserError(f"{table.rows[bad]}: {name} is {str(col[bad])[:60]!r}, not a number; "
                        f"fix the row, or map another header with --columns {name}=HEADER")
    return col


def _is_number(value) -> bool:
    try:
        _to_float(value)
        return True
    except (TypeError, ValueError):
        return False
