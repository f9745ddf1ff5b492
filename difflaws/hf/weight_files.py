"""The safetensors files of a checkpoint folder: one ``model.safetensors``, or shards with an index.

Only safetensors is read: a ``pytorch_model.bin`` is a pickle, which can run
code when loaded.  Each file is read once, for its tensors and its sha256 (the
run's provenance records which bytes it was made from).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from difflaws.errors import UserError

SINGLE = "model.safetensors"
INDEX = "model.safetensors.index.json"
#: what an export may cast the tensors to; auto: keep each as the checkpoint stores it
DTYPE_NAMES = ("auto", "float32", "bfloat16", "float16")


def weight_paths(folder: Path) -> list[Path]:
    index = folder / INDEX
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            names = sorted(set(weight_map.values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise UserError(f"{index}: not a safetensors index (a JSON object with a "
                            f"weight_map): {exc}") from None
        for name in names:
            if not isinstance(name, str) or Path(name).name != name:
                raise UserError(f"{index}: weight_map names {name!r}, not a file in the "
                                "folder itself; the index is damaged")
            if not (folder / name).is_file():
                raise UserError(f"{index} names {name}, which is not in {folder}; the "
                                "download is incomplete (fetch the folder again)")
        return [folder / name for name in names]
    paths = sorted(folder.glob("*.safetensors"))
    if paths:
        return paths
    if (folder / "pytorch_model.bin").exists():
        raise UserError(f"{folder} holds pytorch_model.bin only; difflaws reads safetensors, not "
                        "pickles (which can run code). Convert it with safetensors' "
                        "save_file and retry")
    raise UserError(f"{folder}: no *.safetensors files next to config.json; pass the folder "
                    "the model's weights were saved to")


def read_weights(folder) -> tuple[dict, dict[str, str]]:
    """({tensor name: tensor}, {file name: sha256}) of every weight file in ``folder``."""
    from safetensors.torch import load

    folder = Path(folder)
    tensors, digests = {}, {}
    for path in weight_paths(folder):
        try:
            data = path.read_bytes()
            part = load(data)
        except Exception as exc:  # truncated or not safetensors at all: the library's own words
            raise UserError(f"{path}: cannot read it as safetensors ({exc}); the download may "
                            "be incomplete (fetch the folder again)") from None
        twice = sorted(set(part) & set(tensors))
        if twice:
            raise UserError(f"{path}: tensor {twice[0]!r} is also in another weight file; "
                            "the folder mixes two checkpoints")
        tensors.update(part)
        digests[path.name] = hashlib.sha256(data).hexdigest()
        del data
    return tensors, digests


def write_weights(path: Path, tensors: dict) -> None:
    """One safetensors file, fsynced under a temporary name, then renamed into place."""
    from safetensors.torch import save_file

    tmp = path.with_name(f".{path.name}.tmp")
    try:
        save_file(tensors, str(tmp), metadata={"format": "pt"})
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
