"""``difflaws export --format hf``: a run directory → a GIDD checkpoint folder.

The folder holds ``config.json`` (:mod:`difflaws.hf.from_spec` says which keys)
and ``model.safetensors`` under the authors' names, which the authors'
``GiddForDiffusionLM.from_pretrained(DIR)`` loads; a run imported from the
format also gets back the tokenizer and code files it came with, so a hub
repository exports to a folder that loads as the original did.  A native run
with a tokenizer.json gets a copy of it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from difflaws import atomic, engine
from difflaws.errors import UserError
from difflaws.hf import from_spec, side_files, tensors
from difflaws.hf.gidd_config import CONFIG_FILE
from difflaws.hf.importer import AUTHORS_MASK_ID, check_out, imported_config
from difflaws.hf.weight_files import SINGLE, write_weights


def cast(weights: dict, dtype_name: str) -> dict:
    if dtype_name == "auto":
        return weights
    dtype = getattr(torch, dtype_name)
    return {k: v.to(dtype) if v.is_floating_point() else v for k, v in weights.items()}


def dtype_label(weights: dict) -> str:
    """The config's dtype: the tensors' common one (the widest, should they differ)."""
    widest = None
    for t in weights.values():
        widest = t.dtype if widest is None else torch.promote_types(widest, t.dtype)
    return str(widest).removeprefix("torch.")


def built_tokenizer(spec):
    """The run's tokenizer if it builds without the data (an hf file, bytes), else None."""
    try:
        return spec.tokenizer.build()
    except UserError:
        return None


def export_hf(run_dir, out, dtype: str = "auto", host=None) -> dict:
    from difflaws.distributed.export import full_weights

    run_dir, out = Path(run_dir), Path(out)
    where = str(run_dir / engine.SPEC_FILE)
    spec = engine.load_run(run_dir, host=host)
    from_spec.refuse_inexpressible(spec, where)  # before the weights are read
    check_out(out, "the export writes a whole checkpoint folder, so pass a new one")
    step, weights = full_weights(run_dir)
    weights = cast(weights, dtype)
    tokenizer = built_tokenizer(spec)
    label = dtype_label(weights)
    cfg = from_spec.gidd_config(spec, weights["embed.weight"].shape[0], label, tokenizer,
                                imported_config(run_dir), where)
    named = tensors.from_difflaws(weights, cfg.num_hidden_layers, cfg.attention_bias)
    tensors.check_names(cfg, named, where)  # what is written is what the config describes
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_weights(out / SINGLE, named)
        atomic.write_json(out / CONFIG_FILE, cfg.to_json())
        copied = side_files.copy_out(run_dir, out)
        path = Path(getattr(spec.tokenizer, "path", "") or "")
        if side_files.TOKENIZER not in copied and path.suffix == ".json" and path.is_file():
            shutil.copyfile(path, out / side_files.TOKENIZER)
            copied.append(side_files.TOKENIZER)
    except OSError as exc:  # a full disk, a vanished directory: leave no partial folder
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise UserError(f"--out: cannot write {out}: {exc.strerror or exc}; free space or "
                        "choose another --out") from None
    notes = []
    if tokenizer is None:
        notes.append("the run's tokenizer needs its data to build, so eos_token_id is the "
                     "authors' default and no tokenizer file is written")
    elif tokenizer.mask_id != AUTHORS_MASK_ID:
        notes.append(f"the mask token is id {tokenizer.mask_id}: pass mask_token_id="
                     f"{tokenizer.mask_id} to the authors' generate() (it assumes "
                     f"{AUTHORS_MASK_ID})")
    return {"out": str(out), "step": step, "dtype": label, "files": [SINGLE, CONFIG_FILE, *copied],
            "notes": notes}
