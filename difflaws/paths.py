"""Check output paths before anything is written, so a bad one fails with its key's name."""

from __future__ import annotations

import os
from pathlib import Path

from difflaws.errors import UserError


def _shown(path) -> str:
    text = str(path)
    return text if len(text) <= 200 else f"{text[:200]}... ({len(text)} characters)"


def os_reason(exc: BaseException) -> str:
    """An OS error's own words ("No space left on device"), without its errno."""
    return getattr(exc, "strerror", None) or str(exc)


def _nearest_existing(path: Path) -> Path:
    """``path`` or its closest ancestor that exists (``os.stat`` errors propagate)."""
    for candidate in (path, *path.parents):
        try:
            os.stat(candidate)
            return candidate
        except (FileNotFoundError, NotADirectoryError):
            continue
    return Path(path.anchor or ".")


def check_writable_dir(path, key: str) -> Path:
    """Make sure ``path`` is, or can be created as, a directory this process can write.

    ``key`` names where the path came from (``"out_dir"``, ``"--out"``) in the
    message.  Nothing is created: a missing directory is checked through its
    nearest existing ancestor.  Returns ``path`` as a ``Path``.
    """
    fix = f"choose another {key} (a directory you can write)"
    try:
        path = Path(path)
        existing = _nearest_existing(path.absolute())
        if existing == path.absolute():
            if not existing.is_dir():
                raise UserError(f"{key}: {_shown(path)} is a file, not a directory; {fix}")
        elif not existing.is_dir():
            raise UserError(f"{key}: {_shown(path)} cannot be created: {_shown(existing)} is a "
                            f"file, not a directory; {fix}")
        # root passes any permission bits; a read-only file system still says no
        if not os.access(existing, os.W_OK | os.X_OK):
            where = "" if existing == path.absolute() else \
                f" would be created in {_shown(existing)}, which"
            raise UserError(f"{key}: {_shown(path)}{where} is not writable; {fix}")
    except UserError:
        raise
    except (OSError, ValueError) as exc:  # a name too long, a symlink loop, a NUL byte
        raise UserError(f"{key}: cannot use {_shown(path)} as a directory: {os_reason(exc)}; "
                        f"{fix}") from None
    return path


def check_writable_file(path, key: str) -> Path:
    """Make sure ``path`` can be written as a file: not a directory, in a writable directory
    that exists.  Nothing is created.  Returns ``path`` as a ``Path``."""
    fix = f"choose another {key}"
    try:
        path = Path(path)
        if path.is_dir():
            raise UserError(f"{key}: {_shown(path)} is a directory; give a file name, e.g. "
                            f"{_shown(path / 'model.safetensors')}")
        parent = path.absolute().parent
        if not parent.exists():
            raise UserError(f"{key}: directory {_shown(parent)} does not exist; create it "
                            f"first or {fix}")
        if not parent.is_dir():
            raise UserError(f"{key}: {_shown(parent)} is a file, not a directory; {fix}")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise UserError(f"{key}: directory {_shown(parent)} is not writable; {fix}")
    except UserError:
        raise
    except (OSError, ValueError) as exc:
        raise UserError(f"{key}: cannot write {_shown(path)}: {os_reason(exc)}; {fix}") from None
    return path
