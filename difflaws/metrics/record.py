"""Writing an evaluation's metrics into the workspace's results DB (``evaluations`` table)."""

from __future__ import annotations

import sqlite3
import sys


def record(run_dir, step: int, metrics) -> bool:
    """Add the rows; False (with a note on stderr) when they cannot be added: the DB does not
    know the run (a run directory copied out of its workspace) or cannot be written (a
    read-only workspace).  The printed figures stand either way."""
    from difflaws.store import workspace_db

    try:
        db, run_id = workspace_db(run_dir)
    except (OSError, sqlite3.OperationalError) as exc:  # a folder we may read but not write
        _note(f"cannot open the results DB next to {run_dir} ({exc}); the evaluation is "
              "printed but not recorded (pass --no-record to skip the DB)")
        return False
    try:
        if db.run(run_id) is None:
            _note(f"the results DB {db.path} has no run {run_id!r}; the evaluation is printed "
                  "but not recorded")
            return False
        db.record_evaluations(run_id, step, metrics)
        return True
    except sqlite3.IntegrityError as exc:  # the run row was deleted meanwhile
        _note(f"not recorded in {db.path}: {exc}")
        return False
    except sqlite3.OperationalError as exc:  # e.g. a read-only DB file
        _note(f"not recorded in {db.path} ({exc}); pass --no-record to skip the DB")
        return False
    finally:
        db.close()


def _note(text: str) -> None:
    print(f"difflaws: note: {text}", file=sys.stderr)
