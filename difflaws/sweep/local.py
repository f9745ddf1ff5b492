"""Run sweep members as child processes on this machine, ``jobs`` at a time.

Each child is ``python -m difflaws run ...`` with its output in the sweep's
``logs/`` folder.  With several jobs, each child gets an equal share of the
CPU threads (unless ``OMP_NUM_THREADS`` is already set), so parallel runs do
not oversubscribe the cores.  Children die with the sweep whatever stops it:
they stay in its process group (Ctrl-C reaches them all), a SIGTERM to the sweep
is passed on to them, and on Linux the kernel sends them SIGTERM when the sweep
process dies, even by SIGKILL (``PR_SET_PDEATHSIG``).  A member that gets SIGTERM
or SIGINT saves a checkpoint at its next step and exits; a later ``difflaws
sweep`` resumes them from their checkpoints.
"""

from __future__ import annotations

import functools
import os
import shlex
import signal
import subprocess
import threading
import time

from difflaws.signals import die_with_parent, exit_code
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
        # the kernel signals each child when this process dies, however it dies
        child_setup = functools.partial(die_with_parent, signal.SIGTERM, os.getpid())
        previous = _exit_on_sigterm()
        try:
            while waiting or running:
                while waiting and len(running) < self.jobs:
                    task = waiting.pop(0)
                    task.log.parent.mkdir(parents=True, exist_ok=True)
                    with open(task.log, "ab") as log:
                        proc = subprocess.Popen(task.argv(), stdout=log, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, env=env,
                                                preexec_fn=child_setup)
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
            _stop_all(list(running))
            raise
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        return outcomes


def _exit_on_sigterm():
    """In the main thread: turn SIGTERM into SystemExit(143), so the children are stopped
    cleanly (and waited for) before the sweep exits.  Returns the previous handler."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second one ends the sweep at once
        raise SystemExit(exit_code(signum))

    return signal.signal(signal.SIGTERM, handler) or signal.SIG_DFL


# a member given SIGINT finishes its step and saves a checkpoint: give it time to
STOP_STEPS = ((signal.SIGINT, 30.0), (signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0))


def _stop_all(procs) -> None:
    """Stop the children we started, all at once: interrupt them (they checkpoint and exit),
    then terminate, then kill whichever are left."""
    for sig, wait in STOP_STEPS:
        alive = [p for p in procs if p.poll() is None]
        if not alive:
            return
        for proc in alive:
            try:
                proc.send_signal(sig)
            except ProcessLookupError:
                pass
        end = time.monotonic() + wait
        while time.monotonic() < end and any(p.poll() is None for p in alive):
            time.sleep(0.05)


def _stop(proc: subprocess.Popen) -> None:
    """Stop one child we started, interrupting it first so it can exit cleanly."""
    _stop_all([proc])
