"""Spec → live components, shared by ``run``, ``eval`` and ``sample``.

The order matters for reproducibility: the tokenizer needs the data source
(BPE trains on it), the streams need the tokenizer, and the model's weights
come from a generator seeded by the spec alone.
"""

from __future__ import annotations

import math
from pathlib import Path

import attrs
import torch

from difflaws.data.packing import PackedSequences
from difflaws.errors import UserError

CACHE_DIR = ".cache"  # in the workspace: trained tokenizers and token streams


def resolve_device(name: str, where: str = "train.device") -> torch.device:
    """The torch device for a spec's (or a ``--device``) string, refused with a UserError
    naming ``where`` when it is malformed or not present on this machine."""
    from difflaws.train.config import check_device

    try:
        check_device(name, where)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"{where} = {name!r} but no CUDA device is available; "
                            "use device = \"auto\" or \"cpu\"")
        index = int(name.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise UserError(f"{where} = {name!r} but this machine has "
                            f"{torch.cuda.device_count()} CUDA device(s) (cuda:0 to "
                            f"cuda:{torch.cuda.device_count() - 1}); pick one of them")
    if name == "mps" and not (getattr(torch.backends, "mps", None)
                              and torch.backends.mps.is_available()):
        raise UserError(f"{where} = 'mps' but MPS is not available here; use \"auto\" or \"cpu\"")
    try:
        return torch.device(name)
    except (RuntimeError, ValueError) as exc:
        raise UserError(f"{where} = {name!r}: {exc}; use auto, cpu, cuda, cuda:N or mps") from None


def cache_dir_for(run_dir) -> Path:
    path = Path(run_dir).resolve().parent / CACHE_DIR
    path.mkdir(parents=True, exist_ok=True)
    return path


@attrs.define
class Data:
    source: object
    tokenizer: object
    train: object  # the training windows (see difflaws.data.loader)
    val: PackedSequences
    val_stream: object

    def val_bytes_per_token(self) -> float:
        """Text bytes per validation token, NaN for token-native data (no bytes at all);
        the stream's EOS separators stand for no bytes."""
        if not self.source.has_text():
            return math.nan
        stream = self.val_stream
        eos_frac = float((stream == self.tokenizer.eos_id).mean()) if len(stream) else 0.0
        return float(self.tokenizer.bytes_per_token) * (1.0 - eos_frac)


def build_data(spec, run_dir, data_config=None) -> Data:
    config = data_config or spec.data
    source = config.build()
    cache = cache_dir_for(run_dir)
    tokenizer = spec.tokenizer.build(source=source, cache_dir=cache)
    T = spec.train.seq_len
    train = source.train_windows(tokenizer, cache, T, spec.seed, config.unique_tokens,
                                 spec.train.batch_size)
    val_stream = source.stream("val", tokenizer, cache)
    # validation is read in a fixed order so every evaluation scores the same sequences
    val = PackedSequences(val_stream, T, tokenizer.eos_id, seed=0, shuffle=False,
                          where="data (validation split: raise data.val_fraction)")
    return Data(source, tokenizer, train, val, val_stream)


def build_objective(spec, tokenizer):
    """The spec's objective, built over its noise process when it has one."""
    return spec.objective.build(noise=spec.noise, vocab_size=tokenizer.vocab_size,
                                mask_id=tokenizer.mask_id, eos_id=tokenizer.eos_id)


def backbone_options(spec) -> dict:
    """What the objective asks of the backbone's build; nothing for a bidirectional one, so
    backbones that know no ``causal`` keyword keep working."""
    return {"causal": True} if spec.objective.causal() else {}


def build_model(spec, tokenizer, device, seed: int | None = None):
    model = spec.backbone.build(vocab_size=tokenizer.vocab_size, seq_len=spec.train.seq_len,
                                parameterization=spec.parameterization.build(), device=device,
                                meta=False, **backbone_options(spec))
    gen = torch.Generator(device="cpu").manual_seed(spec.seed if seed is None else seed)
    model.init_weights(gen)
    return model


def field(out, name):
    """Read ``name`` from a loss output that is an object or a mapping."""
    return out[name] if isinstance(out, dict) else getattr(out, name)
