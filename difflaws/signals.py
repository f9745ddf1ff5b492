"""Stopping a training run cleanly on a signal, and sweep members that die with their parent.

SIGTERM (what schedulers and ``kill`` send), SIGINT (Ctrl-C) and SIGUSR1 (SLURM's
``--signal=USR1@SECONDS`` warning before a time limit) ask a run to stop: the trainer
finishes the step it is in, saves a checkpoint, marks the run ``interrupted`` and exits
with the conventional status, 128 + the signal's number (SIGTERM 143, SIGINT 130,
SIGUSR1 138).  Re-running the same command resumes, bitwise as if never stopped.  A
third signal stops at once, without a checkpoint (the last one is kept).

Handlers are installed only in the main thread (Python delivers signals there) and the
previous ones are restored afterwards.  In a distributed run every rank votes at each
step (the trainer sums the votes with the step's loss all-reduce), so all ranks stop
after the same step.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time

STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGINT", "SIGUSR1")
                     if hasattr(signal, n))
FORCE_AFTER = 3  # the third stop signal stops at once


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def exit_code(signum: int) -> int:
    return 128 + int(signum)


class Stopped(BaseException):
    """A run stopped on a signal.  A BaseException, like KeyboardInterrupt, so that no
    ``except Exception`` swallows it; ``difflaws run`` prints it and exits ``exit_code``."""

    def __init__(self, signum: int, step: int | None = None, run_dir=None, saved: bool = False,
                 forced: bool = False, main: bool = True):
        self.signum, self.step, self.run_dir = signum, step, run_dir
        self.saved, self.forced, self.main = saved, forced, main
        super().__init__(signum)

    @property
    def exit_code(self) -> int:
        return exit_code(self.signum)

    def __str__(self) -> str:
        name = signal_name(self.signum)
        where = f" in {self.run_dir}" if self.run_dir is not None else ""
        resume = "re-run the same command to resume"
        at = f"at step {self.step}" if self.step is not None else "before training"
        if self.forced:
            return (f"{name} received {FORCE_AFTER} times; stopped at once {at} without "
                    f"saving (the last checkpoint{where} is kept); {resume}")
        if self.saved:
            return f"{name} received; saved checkpoint at step {self.step}{where}; {resume}"
        return (f"{name} received; stopped at step {self.step} before training further "
                f"(nothing new to save{where}); {resume}")


class StopRequest:
    """Set by the handlers; the trainer polls it at each step boundary."""

    def __init__(self):
        self.signum: int | None = None
        self.count = 0

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def handle(self, signum, frame=None) -> None:
        self.count += 1
        if self.signum is None:
            self.signum = signum
        if self.count >= FORCE_AFTER:
            raise Stopped(self.signum, forced=True)

    def sleep(self, seconds: float) -> None:
        """Sleep, but wake as soon as a stop is requested."""
        end = time.monotonic() + seconds
        while not self.requested and (left := end - time.monotonic()) > 0:
            time.sleep(min(left, 0.05))


@contextlib.contextmanager
def stop_requests(signals=STOP_SIGNALS):
    """Route ``signals`` to a :class:`StopRequest` for the block (main thread only; elsewhere
    the request is never set), then restore the previous handlers."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = {}
    try:
        for sig in signals:
            previous[sig] = signal.signal(sig, request.handle)
        yield request
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


# -- sweep members die with their parent ----------------------------------------------------
PR_SET_PDEATHSIG = 1
_prctl = None
if sys.platform.startswith("linux"):
    try:
        import ctypes

        _prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved now, not after fork
    except (OSError, AttributeError):  # pragma: no cover - a libc without prctl
        _prctl = None


def die_with_parent(sig: int = signal.SIGTERM, parent: int | None = None) -> None:
    """In a child (``preexec_fn``): have the kernel send ``sig`` when the parent dies, however
    it dies (SIGKILL included).  Linux only; elsewhere a no-op.  ``parent``: the PID the
    child expects as its parent; if it died before this ran, signal at once."""
    if _prctl is None:
        return
    _prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    if parent is not None and os.getppid() != parent:
        os.kill(os.getpid(), sig)
