"""What an executor runs: one ``difflaws run`` command per member, and its state on disk.

A member is *done* when its run directory holds a readable ``summary.json``
(the trainer writes it last), *partial* when the directory exists without it
(a killed run: ``difflaws run`` into the same directory resumes from its
last checkpoint), and *pending* otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path

import attrs

from difflaws.engine import read_summary

DONE, PARTIAL, PENDING = "done", "partial", "pending"


@attrs.frozen
class Task:
    name: str
    run_args: tuple  # everything after `difflaws`: ("run", SPEC, "--set", ..., "--out", DIR)
    run_dir: Path
    log: Path

    def argv(self, python: str = sys.executable) -> list[str]:
        return [python, "-m", "difflaws", *self.run_args]

    def torchrun_argv(self, nproc_per_node: int, extra=()) -> list[str]:
        return [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc_per_node}",
                *extra, "-m", "difflaws", *self.run_args]


@attrs.frozen
class Outcome:
    name: str
    returncode: int
    state: str
    log: Path
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.state == DONE


def state(run_dir: Path) -> str:
    if read_summary(run_dir) is not None:  # a damaged summary.json: the run finishes again
        return DONE
    return PARTIAL if run_dir.is_dir() else PENDING


def tasks_for(sweep) -> list[Task]:
    out = []
    for member in sweep.members:
        run_dir = sweep.member_dir(member)
        args = ["run", str(sweep.base_path.resolve())]
        for item in member.overrides:
            args += ["--set", item]
        # --json: metrics as JSON lines in the log (no progress bar), notices kept
        args += ["--out", str(run_dir.resolve()), "--json"]
        out.append(Task(member.name, tuple(args), run_dir,
                        sweep.directory / "logs" / f"{member.name}.log"))
    return out


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])
