"""Run sweep members as child processes on this machine, ``jobs`` at a time.

Each child is ``python -m difflaws run ...`` with its output in the sweep's
``logs/`` folder.  With several jobs, each child gets an equal share of the
CPU threads (unless ``OMP_NUM_THREADS`` is already set), so parallel runs do
not oversubscribe the cores.  Children stay in the sweep's process group, so
whatever stops the sweep (Ctrl-C, a scheduler killing the job) stops them
too; a later ``difflaws sweep`` resumes them from their checkpoints.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time

from difflaws.sweep.tasks import Outcome, state

POLL_SECONDS = 0.2


class LocalExecutor:
    def __init__(self, jobs: int = 1, threads_per_job: int = 0):
        self.jobs = max(1, jobs)
        self.threads_per_job = threads_per_job

    def describe(self, task) -> str:
        return shlex.join(task.argv())

    def environment(self) -> dict:
        env = dict(os.environ)
        threads = self.threads_per_job or max(1, (os.cpu_count() or 1) // self.jobs)
        if self.jobs > 1 or self.threads_per_job:
            env.setdefault("OMP_NUM_THREADS", str(threads))
        return env

    def run(self, tasks, on_done=None) -> list[Outcome]:
        env = self.environment()
        waiting, running, outcomes = list(tasks), {}, []
        try:
            while waiting or running:
                while waiting and len(running) < self.jobs:
                    task = waiting.pop(0)
                    task.log.parent.mkdir(parents=True, exist_ok=True)
                    with open(task.log, "ab") as log:
                        proc = subprocess.Popen(task.argv(), stdout=log, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, env=env)
                    running[proc] = (task, time.perf_counter())
                for proc in [p for p in running if p.poll() is not None]:
                    task, start = running.pop(proc)
                    outcome = Outcome(task.name, proc.returncode, state(task.run_dir), task.log,
                                      time.perf_counter() - start)
                    outcomes.append(outcome)
                    if on_done:
                        on_done(outcome)
                time.sleep(POLL_SECONDS if running else 0)
        except BaseException:
            for proc in running:
                _stop(proc)
            raise
        return outcomes


def _stop(proc: subprocess.Popen) -> None:
    """Stop a child we started, interrupting it first so it can exit cleanly."""
    for sig, wait in ((signal.SIGINT, 10), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        if proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue
