"""The files of a checkpoint folder besides config and weights, carried through verbatim.

The import copies the tokenizer files and any Python files (a hub repository's
remote code, which ``auto_map`` in config.json points at) into ``RUN_DIR/hf/``;
the spec's tokenizer reads the copy there, so the run does not depend on the
download staying where it was.  The export copies them back next to the new
config.json, so an exported folder loads the way the original did.  Nothing
here is ever executed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

FOLDER = "hf"
TOKENIZER = "tokenizer.json"
NAMES = (TOKENIZER, "tokenizer_config.json", "special_tokens_map.json", "generation_config.json")


def carried(folder: Path) -> list[Path]:
    folder = Path(folder)
    found = [folder / name for name in NAMES if (folder / name).is_file()]
    return found + sorted(p for p in folder.glob("*.py") if p.is_file())


def copy_in(folder: Path, run_dir: Path, tokenizer: Path | None = None) -> Path:
    """Copy the folder's side files (``tokenizer`` instead of its tokenizer.json, if given)
    into ``RUN_DIR/hf``; returns that folder."""
    dest = Path(run_dir) / FOLDER
    dest.mkdir(parents=True, exist_ok=True)
    for path in carried(folder):
        if not (tokenizer is not None and path.name == TOKENIZER):
            shutil.copyfile(path, dest / path.name)  # follows the hub cache's links to blobs
    if tokenizer is not None:
        shutil.copyfile(tokenizer, dest / TOKENIZER)
    return dest


def copy_out(run_dir: Path, out: Path) -> list[str]:
    """Copy ``RUN_DIR/hf``'s files into ``out``; the names copied."""
    source = Path(run_dir) / FOLDER
    if not source.is_dir() or source.is_symlink():
        return []
    names = []
    for path in carried(source):
        if not path.is_symlink():
            shutil.copyfile(path, Path(out) / path.name)
            names.append(path.name)
    return names
