"""Local text files: paths or globs; each file (or each separated chunk) is a document.

``.jsonl`` files hold one document per line in the ``text_field`` key.
"""

from __future__ import annotations

import glob
import hashlib
import json
from pathlib import Path

from difflaws.data.source import DataSource, require_nonempty
from difflaws.errors import UserError


def expand(patterns, where: str) -> list[Path]:
    files = []
    for pattern in patterns:
        matches = sorted(glob.glob(str(Path(pattern).expanduser()), recursive=True))
        if not matches:
            raise UserError(f"{where}: {pattern!r} matches no file; check the path "
                            "(globs such as data/*.txt are allowed)")
        files += [Path(m) for m in matches if Path(m).is_file()]
    return files


class TextSource(DataSource):
    name = "text"

    def __init__(self, paths, separator: str = "", text_field: str = "text",
                 val_fraction: float = 0.01):
        self.files = expand(paths, "data.paths")
        require_nonempty(len(self.files), "data.paths", "the globs matched only directories")
        self.separator = separator
        self.text_field = text_field
        self.val_fraction = val_fraction
        if not any(f.stat().st_size for f in self.files):
            require_nonempty(0, "data.paths", "every file is empty")

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for f in self.files:
            st = f.stat()
            h.update(f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        h.update(f"{self.separator!r}|{self.text_field}|{self.val_fraction}".encode())
        return "text|" + h.hexdigest()

    def documents(self):
        for f in self.files:
            if f.suffix == ".jsonl":
                with f.open(encoding="utf-8") as lines:
                    for i, line in enumerate(lines):
                        if line.strip():
                            yield f"{f.name}:{i}", json.loads(line)[self.text_field]
                continue
            text = f.read_text(encoding="utf-8", errors="replace")
            chunks = text.split(self.separator) if self.separator else [text]
            for i, chunk in enumerate(chunks):
                yield f"{f.name}:{i}", chunk
