"""Where a GIDD checkpoint comes from: a local folder, or a repository on the Hugging Face hub.

A hub repository is fetched with ``huggingface_hub`` (``pip install
'difflaws[hf]'``) into its usual cache, only the files the import reads.  The
name, the revision it resolved to and the folder are returned for the run's
provenance.  Without the package, without a network, or with
``HF_HUB_OFFLINE=1`` and the repository not cached, the import stops with a
UserError that says which and how to get the folder another way.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from difflaws.errors import UserError

REPO_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
#: what the import reads from a repository; everything else (other formats, docs) stays there
PATTERNS = ["config.json", "*.safetensors", "model.safetensors.index.json", "tokenizer.json",
            "tokenizer_config.json", "special_tokens_map.json", "generation_config.json", "*.py"]
_TRUE = ("1", "on", "yes", "true")


def resolve(source: str, revision: str | None = None) -> tuple[Path, dict]:
    """(the folder to read, what to record about where it came from)."""
    path = Path(source).expanduser()
    if path.is_dir():
        if revision:
            raise UserError(f"--revision {revision}: {source} is a local folder; --revision "
                            "selects a version of a hub repository only")
        return path, {"source": source, "folder": str(path.resolve())}
    if path.exists():
        raise UserError(f"{source} is a file, not a folder; pass the checkpoint folder "
                        "(config.json and its safetensors files) or a hub repository name")
    if not REPO_NAME.match(source):
        raise UserError(f"{source}: no such folder, and not a hub repository name (OWNER/NAME); "
                        "pass the checkpoint folder or e.g. dvruette/gidd-mask-3b")
    return download(source, revision)


def download(repo: str, revision: str | None) -> tuple[Path, dict]:
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise UserError(f"{repo}: no such folder here, and fetching it from the Hugging Face "
                        "hub needs the huggingface_hub package: pip install 'difflaws[hf]' (or "
                        "download the repository yourself and pass its folder)") from None
    try:
        folder = Path(snapshot_download(repo, revision=revision, allow_patterns=PATTERNS))
    except Exception as exc:  # offline, unknown, gated, rate-limited: all the hub's own errors
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE:
            hint = ("HF_HUB_OFFLINE is set, so only repositories already in the local cache "
                    "load; unset it where the network allows, or download the repository "
                    "elsewhere (huggingface-cli download REPO --local-dir DIR) and pass DIR")
        else:
            hint = ("check the name and the network (and HF_TOKEN for a gated repository), or "
                    "download it yourself (huggingface-cli download REPO --local-dir DIR) and "
                    "pass DIR")
        raise UserError(f"{repo}: cannot fetch it from the Hugging Face hub "
                        f"({type(exc).__name__}: {reason}); {hint}") from None
    # the cache keeps each revision in snapshots/<commit>: the commit is the exact version read
    return folder, {"source": repo, "hub_repo": repo, "revision": revision,
                    "commit": folder.name, "folder": str(folder)}
