"""A run directory's safety rules: its name, its one writer, and no writing through links.

* **Containment.**  A run's ``name`` is one plain path component (:func:`check_name`), so
  ``OUT_DIR/NAME`` can never point outside ``OUT_DIR``; every file a run writes lies in
  its run directory (the workspace DB and ``.cache`` live beside it, in ``OUT_DIR``).
* **One writer.**  ``difflaws run`` holds an OS lock (``flock``) on ``RUN_DIR/.lock`` for
  the whole run; the file says who holds it (PID, host, start time).  A second writer is
  refused at once.  The lock dies with its process, so a SIGKILLed run never blocks the
  next one, and "nobody holds the lock" is how a stale ``running`` row in the results DB
  is recognised (:func:`held_by_someone`).
* **No links.**  Nothing in a run directory is written or deleted through a symbolic link
  (:func:`refuse_links`, :func:`remove`).

This module imports nothing heavy (no torch): the CLI runs these checks before it loads
any model code, so a refusal is immediate.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import json
import os
import shutil
import socket
import sys
import time
from pathlib import Path

from difflaws.errors import FieldError, UserError

# The files of a run directory (difflaws.engine re-exports them).
SPEC_FILE = "spec.toml"
SPEC_HASH_FILE = "spec.sha256"  # `sha256sum -c spec.sha256` checks spec.toml by hand
PROVENANCE_FILE = "provenance.json"
METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
LOCK_FILE = ".lock"
CHECKPOINT_DIR = "checkpoints"  # difflaws.checkpoint.io.DIR (not imported here: it needs torch)
RUN_FILES = (SPEC_FILE, SPEC_HASH_FILE, PROVENANCE_FILE, METRICS_FILE, SUMMARY_FILE)

MAX_NAME = 128
# set by `difflaws run --nproc N` for its torchrun children: the launcher holds the lock
LOCK_HELD_ENV = "DIFFLAWS_RUN_DIR_LOCKED"
# a writer whose lock is briefly probed (a DB reconciling stale rows) waits this long
LOCK_RETRY_SECONDS = 2.0


# -- names ---------------------------------------------------------------------------------
def check_name(name) -> str | None:
    """Why ``name`` is not a safe run name (one path component), or None when it is."""
    if not isinstance(name, str):
        return f"must be a string, not {type(name).__name__}"
    shown = repr(name) if len(name) <= 60 else repr(name[:40]) + f"… ({len(name)} characters)"
    rule = ("a run name is one plain path component (letters, digits, '-', '_', '.', '=' …, "
            f"at most {MAX_NAME} characters)")
    if not name:
        return "must not be empty"
    if len(name) > MAX_NAME:
        return f"{shown} is longer than {MAX_NAME} characters; {rule}"
    for bad, what in (("/", "'/'"), ("\\", "'\\'"), ("\0", "a NUL byte")):
        if bad in name:
            return f"{shown} contains {what}; {rule}, never a path"
    if name in (".", ".."):
        return f"{shown} is not a directory name; {rule}"
    if name.startswith("-"):
        return f"{shown} starts with '-' (it would read as an option); {rule}"
    if not name.isprintable():
        return f"{shown} contains a non-printable character; {rule}"
    return None


def validate_name(instance, attribute, value) -> None:
    """attrs validator for ``Spec.name``: "" (the spec file's stem, filled in later) or a
    safe name."""
    if value == "":
        return
    problem = check_name(value)
    if problem:
        raise FieldError("name", problem)


def require_name(name, what: str = "name") -> str:
    problem = check_name(name)
    if problem:
        raise UserError(f"{what}: {problem}; set another with --set {what}=NAME")
    return name


def check_file_name(value: str) -> str | None:
    """Why ``value`` is not a plain file name inside a run directory, or None."""
    problem = check_name(value)
    if problem:
        return problem.replace("a run name", "a file name")
    if value in (*RUN_FILES, LOCK_FILE, CHECKPOINT_DIR) or value.startswith(".tmp-"):
        return f"{value!r} is one of the run directory's own files; pick another name"
    return None


# -- links ---------------------------------------------------------------------------------
def link_error(path: Path) -> UserError:
    return UserError(f"{path} is a symbolic link; difflaws never writes or deletes through a "
                     f"link in a run directory. Remove the link (rm {path}) and re-run, or use "
                     "another --out")


def refuse_links(run_dir, extra=()) -> None:
    """Refuse a run directory whose own files, or whose checkpoints folder or any entry in it,
    are symbolic links (a link would make a run write or delete files elsewhere)."""
    run_dir = Path(run_dir)
    for name in (*RUN_FILES, LOCK_FILE, CHECKPOINT_DIR, *extra):
        if (run_dir / name).is_symlink():
            raise link_error(run_dir / name)
    ckpts = run_dir / CHECKPOINT_DIR
    if ckpts.is_dir():
        for entry in ckpts.iterdir():
            if entry.is_symlink():
                raise link_error(entry)


def remove(path) -> None:
    """Delete ``path`` without ever following a link: a link is unlinked itself (its target
    is untouched), a directory is removed with rmtree, which unlinks links inside it."""
    path = Path(path)
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink(missing_ok=True)
    elif path.is_dir():
        shutil.rmtree(path)


def start_over(run_dir) -> None:
    """Remove what a previous, different spec left in ``run_dir`` (``run --force``): its
    checkpoints, metrics, summary and spec files.  Links are unlinked, never followed."""
    run_dir = Path(run_dir)
    # the hash first: a crash part-way then leaves no hash to mismatch a new spec.toml
    for name in (SPEC_HASH_FILE, CHECKPOINT_DIR, METRICS_FILE, SUMMARY_FILE, SPEC_FILE,
                 PROVENANCE_FILE):
        remove(run_dir / name)


def make_dir(run_dir) -> Path:
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"{run_dir} exists and is not a directory; pass another --out")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the run directory {run_dir}: {exc.strerror}") from None
    return run_dir


# -- the lock ------------------------------------------------------------------------------
class RunDirBusy(UserError):
    """Another process holds the run directory's lock."""


_held: dict[str, list] = {}  # realpath -> [fd, depth]: the locks this process holds


def _key(run_dir) -> str:
    return os.path.realpath(run_dir)


def _open_lock(path: Path, write: bool) -> int | None:
    flags = (os.O_RDWR | os.O_CREAT if write else os.O_RDONLY) | os.O_CLOEXEC | os.O_NOFOLLOW
    try:
        return os.open(path, flags, 0o644)
    except FileNotFoundError:
        if write:
            raise
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise link_error(path) from None
        raise


def holder(run_dir) -> dict:
    """What the lock file says about its (last) holder; {} when unreadable."""
    try:
        info = json.loads((Path(run_dir) / LOCK_FILE).read_text() or "{}")
        return info if isinstance(info, dict) else {}
    except (OSError, ValueError):
        return {}


def _busy(run_dir: Path) -> RunDirBusy:
    info = holder(run_dir)
    pid, host = info.get("pid", "?"), info.get("host", "?")
    since = f", running since {info['started_at']}" if info.get("started_at") else ""
    return RunDirBusy(
        f"run directory {run_dir} is in use by another difflaws run (PID {pid} on host "
        f"{host}{since}); one run directory has one writer. Wait for it to finish, or stop it "
        f"(kill {pid} saves a checkpoint; re-running the command then resumes), or pass "
        "another --out")


def _skip_lock(key: str) -> bool:
    if os.environ.get(LOCK_HELD_ENV) == key:  # our `--nproc` launcher holds it for us
        return True
    return os.environ.get("RANK", "0") != "0"  # under torchrun: rank 0 holds it


@contextlib.contextmanager
def hold(run_dir):
    """Hold ``RUN_DIR/.lock`` for the block (re-entrant within this process)."""
    run_dir = Path(run_dir)
    key = _key(run_dir)
    if key in _held:
        _held[key][1] += 1
        try:
            yield
        finally:
            _held[key][1] -= 1
        return
    if _skip_lock(key):
        yield
        return
    fd = _open_lock(run_dir / LOCK_FILE, write=True)
    deadline = time.monotonic() + LOCK_RETRY_SECONDS
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() > deadline or _someone_writes(run_dir):
                os.close(fd)
                raise _busy(run_dir) from None
            time.sleep(0.05)
    info = {"pid": os.getpid(), "host": socket.gethostname(),
            "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "argv": sys.argv}
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(info, sort_keys=True) + "\n").encode(), 0)
    _held[key] = [fd, 1]
    try:
        yield
    finally:
        del _held[key]
        os.close(fd)  # releases the flock; the file (and its last holder) stays


def _someone_writes(run_dir: Path) -> bool:
    """Whether the lock's holder is a live writer (not a brief probe): its PID is alive."""
    info = holder(run_dir)
    pid = info.get("pid")
    if not isinstance(pid, int) or pid == os.getpid() or info.get("host") != socket.gethostname():
        return False  # unknown (or a lock file this process wrote before): retry until the deadline
    return pid_alive(pid)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped) is not alive
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def holds(run_dir) -> bool:
    """Whether this process holds ``run_dir``'s lock."""
    return _key(run_dir) in _held


@contextlib.contextmanager
def probe(run_dir):
    """Yield whether some process holds ``run_dir``'s lock; while the block runs, a free lock
    is held (shared) by the caller, so no writer can start in between."""
    if holds(run_dir):
        yield True
        return
    run_dir = Path(run_dir)
    # created when missing (in an existing run directory), so a writer starting meanwhile
    # waits for the probe to end
    try:
        fd = _open_lock(run_dir / LOCK_FILE, write=run_dir.is_dir())
    except PermissionError:  # another user's workspace: read it as it is
        fd = _open_lock(run_dir / LOCK_FILE, write=False)
    except FileNotFoundError:  # removed meanwhile
        fd = None
    except UserError:  # the lock file is a link: not ours to judge
        yield True
        return
    if fd is None:  # no run directory: nobody runs it now
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            yield True
            return
        yield False
    finally:
        os.close(fd)


def held_by_someone(run_dir) -> bool:
    with probe(run_dir) as held:
        return held
