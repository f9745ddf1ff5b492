"""Built-in loggers: extra places logged records go (metrics.jsonl and the results DB
always get them).  A logger is built with ``run_dir=`` and has ``log(record)`` and ``close()``
(difflaws/interfaces/logger.py).  The experiment trackers, each an optional extra, have a
module each (tensorboard_logger.py, wandb_logger.py) and share the helpers here."""

from __future__ import annotations

import csv
import errno
import os
import sys
from pathlib import Path

import attrs

from difflaws import hookimpl
from difflaws.errors import FieldError, UserError
from difflaws.interfaces import LoggerConfig, key


class CsvLogger:
    def __init__(self, path: Path, columns: list[str]):
        self.path, self.columns = path, columns
        new = not path.exists()
        try:  # never through a link: the file is the run directory's own
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
                         | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                from difflaws.rundir import link_error

                raise link_error(path) from None
            raise
        self.file = os.fdopen(fd, "a", newline="")
        self.writer = csv.DictWriter(self.file, fieldnames=columns, extrasaction="ignore")
        if new:
            self.writer.writeheader()

    def log(self, record: dict) -> None:
        self.writer.writerow(record)
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def plain_name(what: str, example: str):
    """A validator for a file or folder a logger writes: one plain name inside the run
    directory (``what`` and ``example`` complete the message)."""

    def check(instance, attribute, value) -> None:
        from difflaws.rundir import check_file_name

        problem = check_file_name(value)
        if problem:
            raise FieldError(attribute.name, f"{problem}; the {what} lies in the run directory, "
                                             f"so give a plain name such as {example!r}")

    return check


def require(package: str, kind: str, module: str | None = None):
    """Import an optional logger's ``package`` (then ``module``, when the logger uses
    another module that needs it), or say which extra installs it: when the logger is
    built, before the run trains."""
    import importlib

    try:
        importlib.import_module(package)
        return importlib.import_module(module or package)
    except ImportError as exc:
        raise UserError(f"logger kind {kind!r} (a [[loggers]] entry) needs the `{package}` "
                        f"package, which did not import ({exc}): pip install 'difflaws[{kind}]', "
                        "or remove that [[loggers]] entry") from None


def scalars(values: dict) -> dict:
    """The entries of a record or summary a dashboard plots: numbers (``step`` is the
    x-axis, not a series; None, a missing figure, is left out)."""
    return {k: v for k, v in values.items() if k != "step" and isinstance(v, (int, float))
            and not isinstance(v, bool)}


_plain_file_name = plain_name("CSV file", "metrics.csv")


@attrs.frozen(kw_only=True)
class CsvLoggerConfig(LoggerConfig):
    """Append chosen metrics to a CSV file in the run directory (for spreadsheets)."""

    file: str = key("metrics.csv", validator=_plain_file_name,
                    doc="the CSV file's name, inside the run directory (a plain file name)")
    columns: list[str] = key(factory=lambda: ["step", "tokens", "train_nelbo", "val_nelbo", "loss",
                                              "lr", "grad_norm", "tokens_per_second"],
                             doc="the record keys written, one column each, in this order")

    def build(self, run_dir=None, **context):
        return CsvLogger(Path(run_dir) / self.file, list(self.columns))

    def files(self) -> list[str]:
        return [self.file]


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
class LineLoggerConfig(LoggerConfig):
    """One plain-text line per logged step on stderr (for batch logs without a progress bar)."""

    keys: list[str] = key(factory=lambda: ["step", "tokens", "train_nelbo", "val_nelbo", "lr",
                                           "tokens_per_second"],
                          doc="the record keys printed as key=value, in this order")

    def build(self, **context):
        return LineLogger(list(self.keys))


@hookimpl
def difflaws_register_kinds(register):
    register("logger", "csv", CsvLoggerConfig)
    register("logger", "lines", LineLoggerConfig)
