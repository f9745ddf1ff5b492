"""Where logged records go: ``metrics.jsonl``, the results DB, loggers, the console."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

from difflaws import atomic
from difflaws.engine import METRICS_FILE



class Window:
    """Sums since the last log; part of the checkpoint, so a resumed run's
    averages are bitwise those of an uninterrupted one."""

    KEYS = ("train_nelbo", "loss", "grad_norm")

    def __init__(self):
        self.sums = {k: 0.0 for k in self.KEYS}
        self.count = 0

    def add(self, values: dict) -> None:
        for k in self.KEYS:
            self.sums[k] += values[k]
        self.count += 1

    def means(self) -> dict:
        return {k: (v / self.count if self.count else math.nan) for k, v in self.sums.items()}

    def reset(self) -> None:
        self.__init__()

    def state_dict(self) -> dict:
        return {"sums": dict(self.sums), "count": self.count}

    def load_state_dict(self, state) -> None:
        self.sums = {k: float(state["sums"][k]) for k in self.KEYS}
        self.count = int(state["count"])


def clean(value):
    """JSON has no NaN: report a missing or undefined figure as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class MetricsLog:
    """``metrics.jsonl``: one JSON object per logged step.  A partial last line (a run killed
    mid-write) is dropped when the log is opened, and the file rewritten atomically."""

    def __init__(self, run_dir, db=None, run_id=None, loggers=(), json_lines=False):
        self.path = Path(run_dir) / METRICS_FILE
        self.db, self.run_id = db, run_id
        self.loggers = list(loggers)
        self.off = []  # loggers switched off after an error
        self.json_lines = json_lines
        self.repair()

    def repair(self) -> None:
        if self.path.is_symlink():
            from difflaws.rundir import link_error

            raise link_error(self.path)
        if not self.path.exists():
            return
        text = self.path.read_text(errors="replace")
        _, kept, dropped = parse_records(text, self.path)
        fixed = "".join(line + "\n" for line in kept)
        if dropped is not None:
            console(f"difflaws: dropped the partial last line of {self.path} "
                    f"({dropped!r}); a run stopped while writing it")
        if fixed != text:
            atomic.write_text(self.path, fixed)

    def truncate_after(self, step: int) -> None:
        """Forget records past the checkpoint a resumed run restarts from."""
        if self.path.exists():
            lines = self.path.read_text().splitlines()
            keep = [line for line in lines if line.strip() and json.loads(line)["step"] <= step]
            if len(keep) != len([line for line in lines if line.strip()]):
                atomic.write_text(self.path, "".join(line + "\n" for line in keep))
        if self.db is not None:
            self.db.drop_metrics_after(self.run_id, step)

    def write(self, record: dict) -> None:
        record = {k: clean(v) for k, v in record.items()}
        line = json.dumps(record, sort_keys=True)
        append(self.path, line + "\n")
        if self.db is not None:
            self.db.log_metrics(self.run_id, record)
        self.tell_loggers("log", record, f"at step {record.get('step')}")
        if self.json_lines:
            print(line, flush=True)

    def records(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    # -- loggers (difflaws/interfaces/logger.py): start and finish are optional ------------
    def start(self, run) -> None:
        """Before the first step trains: a logger that cannot start stops the run there."""
        for logger in self.loggers:
            if hasattr(logger, "start"):
                logger.start(run)

    def finish(self, summary: dict) -> None:
        self.tell_loggers("finish", summary, "finishing")

    def tell_loggers(self, method: str, value, when: str) -> None:
        """Call ``method`` on each logger still on; one that raises is switched off, as a
        dashboard that fails must not stop a run whose records are safe on disk already."""
        for logger in self.loggers:
            if logger in self.off or not hasattr(logger, method):
                continue
            try:
                getattr(logger, method)(value)
            except Exception as exc:
                self.off.append(logger)
                console(f"difflaws: logger {type(logger).__name__} failed {when} "
                        f"({type(exc).__name__}: {exc}); it is off for the rest of this run "
                        f"(metrics.jsonl and the results DB keep every record)")

    def close(self) -> None:
        for logger in self.loggers:
            try:
                logger.close()
            except Exception as exc:  # the others still close; the run's outcome stands
                console(f"difflaws: logger {type(logger).__name__} failed to close "
                        f"({type(exc).__name__}: {exc})")


def parse_records(text: str, path) -> tuple[list[dict], list[str], str | None]:
    """The records of a metrics.jsonl text, their lines, and its partial last line (None if
    there is none; a complete last record without its newline is kept).  A damaged line
    elsewhere is a UserError naming the file and line."""
    numbered = [(i + 1, line) for i, line in enumerate(text.split("\n")) if line.strip()]
    records, kept, dropped = [], [], None
    for n, (lineno, line) in enumerate(numbered):
        try:
            rec = json.loads(line)
        except ValueError as exc:
            if n == len(numbered) - 1:  # only a write cut short leaves a last line unparsable
                dropped = line if len(line) <= 80 else line[:77] + "..."
                break
            rec, problem = None, str(exc)
        else:
            problem = None if isinstance(rec, dict) and isinstance(rec.get("step"), int) \
                else "not a record with a step"
        if problem:
            from difflaws.errors import UserError

            raise UserError(f"{path}:{lineno} is not a metrics record ({problem}); delete or "
                            "fix that line (records past the last checkpoint are rewritten "
                            "on resume)")
        records.append(rec)
        kept.append(line)
    return records, kept, dropped


def append(path: Path, text: str) -> None:
    """Append to ``path``, never through a symbolic link."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o644)
    with os.fdopen(fd, "a") as f:
        f.write(text)


def console(text: str, quiet: bool = False) -> None:
    if not quiet:
        print(text, file=sys.stderr, flush=True)


def report(summary: dict, run_dir, json_lines: bool = False, notes=None, extra=None) -> None:
    """Print a run's summary (``extra``: the data source's own figures, with ``notes``)."""
    if json_lines:
        print(json.dumps({"summary": summary}, sort_keys=True), flush=True)
        return

    def num(key):
        value = summary.get(key)
        return value if isinstance(value, (int, float)) else math.nan

    bpb = summary.get("bits_per_byte")
    line = (f"final val {summary.get('loss_figure') or 'NELBO'} {num('val_nelbo'):.4f} ± "
            f"{num('val_nelbo_stderr'):.4f} nats/token"
            + (f" ({bpb:.4f} bits/byte)" if isinstance(bpb, (int, float)) else "")
            + f"; unigram entropy {num('unigram_entropy'):.4f} nats/token")
    notes = notes or {}
    for key, value in (extra or {}).items():
        if isinstance(value, float):
            line += f"; {notes.get(key, key.replace('_', ' '))} {value:.4f}"
    print(line, flush=True)
    shortfall = stderr_shortfall(summary)
    if shortfall:
        print(shortfall, flush=True)
    tokens = summary.get("tokens")
    tokens = f"{tokens:,}" if isinstance(tokens, int) else "?"
    print(f"{tokens} tokens in {num('wall_seconds'):.1f} s "
          f"({num('tokens_per_second'):,.0f} tokens/s); run directory {run_dir}", flush=True)


def stderr_shortfall(summary: dict) -> str:
    """A note when the end-of-run figure stopped short of ``train.eval_stderr_target``
    (its batch cap, or a split whose windows alone spread wider): the reader must know
    the ± is not the one asked for."""
    target, se = summary.get("val_stderr_target"), summary.get("val_nelbo_stderr")
    if not isinstance(target, (int, float)) or not target > 0:
        return ""
    if isinstance(se, (int, float)) and se <= target:
        return ""
    reached = f"{se:.4f}" if isinstance(se, (int, float)) else "undefined"
    return (f"s.e. target {target:g} not met: reached {reached} on "
            f"{summary.get('val_tokens') or 0:,} distinct tokens; raise data.val_fraction, "
            "or train.eval_max_batches if the cap stopped it")
