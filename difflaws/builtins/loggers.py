"""Built-in loggers: extra places logged records go (metrics.jsonl and the results DB
always get them).  A logger is built with ``run_dir=`` and has ``log(record)`` and ``close()``."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import attrs

from difflaws import hookimpl


class CsvLogger:
    def __init__(self, path: Path, columns: list[str]):
        self.path, self.columns = path, columns
        new = not path.exists()
        self.file = path.open("a", newline="")
        self.writer = csv.DictWriter(self.file, fieldnames=columns, extrasaction="ignore")
        if new:
            self.writer.writeheader()

    def log(self, record: dict) -> None:
        self.writer.writerow(record)
        self.file.flush()

    def close(self) -> None:
        self.file.close()


@attrs.frozen(kw_only=True)
class CsvLoggerConfig:
    """Append chosen metrics to a CSV file in the run directory (for spreadsheets)."""

    file: str = "metrics.csv"
    columns: list[str] = attrs.Factory(lambda: ["step", "tokens", "train_nelbo", "val_nelbo",
                                                "loss", "lr", "grad_norm", "tokens_per_second"])

    def build(self, run_dir, **context):
        return CsvLogger(Path(run_dir) / self.file, list(self.columns))


class LineLogger:
    def __init__(self, keys):
        self.keys = keys

    def log(self, record: dict) -> None:
        parts = [f"{k}={record[k]:.4g}" if isinstance(record.get(k), float) else f"{k}={record[k]}"
                 for k in self.keys if record.get(k) is not None]
        print(" ".join(parts), file=sys.stderr, flush=True)

    def close(self) -> None:
        pass


@attrs.frozen(kw_only=True)
class LineLoggerConfig:
    """One plain-text line per logged step on stderr (for batch logs without a progress bar)."""

    keys: list[str] = attrs.Factory(lambda: ["step", "tokens", "train_nelbo", "val_nelbo", "lr",
                                             "tokens_per_second"])

    def build(self, **context):
        return LineLogger(list(self.keys))


@hookimpl
def difflaws_register_kinds(register):
    register("logger", "csv", CsvLoggerConfig)
    register("logger", "lines", LineLoggerConfig)
