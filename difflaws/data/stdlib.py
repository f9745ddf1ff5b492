"""The embedded corpus: the Python standard library's own ``.py`` sources.

Every interpreter ships it, so the quickstart trains without a download.
Third-party packages (``site-packages``) and the stdlib's test suites are
left out; files are read in sorted relative-path order.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path

from difflaws.data.source import DataSource, require_nonempty

EXCLUDED_DIRS = {"site-packages", "dist-packages", "test", "tests", "idlelib", "__pycache__"}


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


class StdlibSource(DataSource):
    name = "stdlib"

    def __init__(self, max_bytes: int = 0, val_fraction: float = 0.05):
        self.root = stdlib_root()
        self.max_bytes = max_bytes
        self.val_fraction = val_fraction
        self.files = self._files()
        require_nonempty(len(self.files), "data (stdlib)", f"no .py files under {self.root}")

    def _files(self) -> list[Path]:
        files = []
        for folder, subdirs, names in os.walk(self.root):
            subdirs[:] = [d for d in subdirs if d not in EXCLUDED_DIRS]  # prune, don't descend
            files += [Path(folder) / n for n in names if n.endswith(".py")]
        files.sort(key=lambda p: p.relative_to(self.root).as_posix())
        if self.max_bytes:
            kept, total = [], 0
            for f in files:
                if total >= self.max_bytes:
                    break
                kept.append(f)
                total += f.stat().st_size
            files = kept
        return files

    def fingerprint(self) -> str:
        size = sum(f.stat().st_size for f in self.files)
        return f"stdlib|{sys.version_info[:3]}|{len(self.files)}|{size}|{self.val_fraction}"

    def documents(self):
        for f in self.files:
            yield f.relative_to(self.root).as_posix(), f.read_text(encoding="utf-8",
                                                                   errors="replace")
