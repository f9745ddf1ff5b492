"""Where logged records go: ``metrics.jsonl``, the results DB, loggers, the console."""

from __future__ import annotations

import json
import math
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
    def __init__(self, run_dir, db=None, run_id=None, loggers=(), json_lines=False):
        self.path = Path(run_dir) / METRICS_FILE
        self.db, self.run_id = db, run_id
        self.loggers = list(loggers)
        self.json_lines = json_lines

    def truncate_after(self, step: int) -> None:
        """Forget records past the checkpoint a resumed run restarts from."""
        if self.path.exists():
            keep = [line for line in self.path.read_text().splitlines()
                    if line.strip() and json.loads(line)["step"] <= step]
            atomic.write_text(self.path, "".join(line + "\n" for line in keep))
        if self.db is not None:
            self.db.drop_metrics_after(self.run_id, step)

    def write(self, record: dict) -> None:
        record = {k: clean(v) for k, v in record.items()}
        line = json.dumps(record, sort_keys=True)
        with self.path.open("a") as f:
            f.write(line + "\n")
        if self.db is not None:
            self.db.log_metrics(self.run_id, record)
        for logger in self.loggers:
            logger.log(record)
        if self.json_lines:
            print(line, flush=True)

    def records(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def close(self) -> None:
        for logger in self.loggers:
            logger.close()


def console(text: str, quiet: bool = False) -> None:
    if not quiet:
        print(text, file=sys.stderr, flush=True)
