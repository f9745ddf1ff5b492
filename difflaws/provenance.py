"""What produced a run: package versions, plugin set and git commit."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import difflaws


def git_commit(where: Path | None = None) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where or Path.cwd(), capture_output=True,
            text=True, timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                           cwd=where or Path.cwd(), capture_output=True, text=True)
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def collect(host) -> dict:
    try:
        import torch

        torch_version = torch.__version__
    except ImportError:  # pragma: no cover - torch is a hard dependency
        torch_version = None
    plugins = {
        name: {"distribution": r.distribution, "version": r.version, "builtin": r.builtin,
               "kinds": r.kinds, "error": r.error}
        for name, r in host.records.items()
    }
    return {
        "difflaws": difflaws.__version__,
        "torch": torch_version,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "git_commit": git_commit(Path(difflaws.__file__).parent),
        "plugins": plugins,
    }
