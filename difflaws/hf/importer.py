"""``difflaws import-hf``: a GIDD checkpoint folder → a difflaws run directory.

The run directory holds what ``difflaws run`` would leave: ``spec.toml`` (with its
checksum), ``provenance.json`` and one checkpoint, at step 0 (difflaws trained it
for no steps), whose weights ``load_trained`` reads like any other.  Provenance
records the source under ``imported_from``: the folder or hub repository and
commit, the config as read, and the sha256 of every weight file.

Everything is checked before the run directory is written: the config
(:mod:`difflaws.hf.gidd_config`, :mod:`difflaws.hf.to_spec`), the noise, the
tokenizer against the config's ids, and the converted weights against the
model the spec builds (on the meta device, so a 10B model costs no memory).
A failure part-way leaves no run directory behind.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from difflaws import engine, rundir
from difflaws.errors import Problem, SpecError, UserError
from difflaws.hf import gidd_config, hub, noise_share, side_files, to_spec

IMPORTED = "imported_from"  # the provenance.json key
FORMAT = "gidd-hf"
AUTHORS_MASK_ID = 3  # what the authors' generate() assumes unless told otherwise
FALLBACK_NAME = "imported"


def check_out(out: Path, fix: str = "pass a new directory for the imported run") -> None:
    """``--out`` is a new or empty directory that can be written (both commands' rule)."""
    from difflaws.paths import check_writable_dir

    if out.is_symlink():
        raise rundir.link_error(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"--out: {out} exists and is not an empty directory; {fix}")
    check_writable_dir(out, "--out")


def noise_config(cfg, kind, options, host, where: str):
    """The noise from ``--noise KIND --noise-option K=V``, else from the config's noise_type;
    refused unless it is the authors' form, or when the two disagree."""
    span = (cfg.min_log_snr, cfg.max_log_snr)
    if kind is None and options:
        raise UserError(f"--noise-option {options[0]}: it sets a key of --noise KIND, which is "
                        "not given; add --noise")
    if kind is None:
        if cfg.noise_type is None:
            raise UserError(f"{where}: has no noise_type, so the noise the model was trained "
                            "with is unknown; pass --noise KIND, e.g. --noise masked for a "
                            "masked-diffusion model, --noise uniform, or --noise hybrid "
                            "--noise-option shift=B")
        return noise_share.noise_for(cfg.noise_type, *span)
    from difflaws.interfaces import interface_for
    from difflaws.spec.converter import flatten
    from difflaws.spec.load import parse_override

    table = {"kind": kind}
    for item in options:
        key, value = parse_override(item, "--noise-option")
        if key in ("log_snr_min", "log_snr_max"):
            raise UserError(f"--noise-option {item}: the λ range comes from config.json "
                            "(min_log_snr, max_log_snr); drop the option")
        table[key] = value
    table.update(log_snr_min=span[0], log_snr_max=span[1])
    try:
        noise = host.converter.structure(table, interface_for("noise"))
    except Exception as exc:  # cattrs' grouped errors and validators' alike
        raise SpecError([Problem(p or "noise", m, "--noise/--noise-option")
                         for p, m in flatten(exc, None)],
                        fix="see `difflaws kinds noise` for every noise kind and its keys") \
            from None
    shift = noise_share.shift_of(noise, f"--noise {kind}")
    if cfg.noise_type is not None and not noise_share.same_prior(cfg.noise_type, shift, *span):
        raise UserError(f"--noise {kind}: its uniform share σ(λ + {shift:g}) contradicts "
                        f"{where}'s noise_type = {cfg.noise_type:g}; drop --noise to use the "
                        "config's")
    return noise


def structured_spec(table: dict, overrides, host, where: str):
    from difflaws.spec.load import RawSpec, apply_overrides, structure
    from difflaws.spec.model import Spec

    raw = apply_overrides(RawSpec(table, {}, Path(where)), list(overrides))
    return structure(raw, Spec, host.converter)


def check_tokenizer(spec, cfg, where: str):
    tok = spec.tokenizer.build()  # no data source: nothing to calibrate on yet
    if tok.eos_id != cfg.eos_token_id:
        raise UserError(f"{where}: eos_token_id = {cfg.eos_token_id}, but the tokenizer's "
                        f"{spec.tokenizer.eos_token!r} is id {tok.eos_id}; pass --set "
                        "tokenizer.eos_token=TOKEN naming the token the model ends documents "
                        "with")
    wanted = cfg.bookkeeping.get("mask_token_id")
    if wanted is not None and tok.mask_id != wanted:
        raise UserError(f"{where}: mask_token_id = {wanted}, but the tokenizer's "
                        f"{spec.tokenizer.mask_token!r} is id {tok.mask_id}; pass --set "
                        "tokenizer.mask_token=TOKEN naming the mask token")
    return tok


def check_against_model(spec, tok, weights: dict) -> None:
    """The converted weights are exactly the tensors the spec's model holds."""
    from difflaws.train.setup import backbone_options

    model = spec.backbone.build(vocab_size=tok.vocab_size, seq_len=spec.train.seq_len,
                                parameterization=spec.parameterization.build(), meta=True,
                                **backbone_options(spec))
    want = {name: tuple(p.shape) for name, p in model.state_dict().items()}
    got = {name: tuple(t.shape) for name, t in weights.items()}
    for name in sorted(set(want) | set(got)):
        if want.get(name) != got.get(name):
            raise UserError(f"the spec's model does not hold the converted weights: {name} is "
                            f"{list(want[name]) if name in want else 'absent'} in the model and "
                            f"{list(got[name]) if name in got else 'absent'} in the checkpoint; "
                            "drop the --set overrides that change the architecture")


def notes(cfg, tok) -> list[str]:
    out = []
    d = cfg.hidden_size
    if cfg.linear_scale(d, d) != 1.0 or cfg.linear_scale(d, cfg.intermediate_size) != 1.0:
        out.append(f"weight_scaling = {cfg.weight_scaling!r} is folded into the block matrices "
                   "(stored in float32)")
    if not cfg.mlp_bias:
        out.append("mlp_bias = false: the MLP biases are zeros (training would move them)")
    if cfg.tie_word_embeddings:
        out.append("tie_word_embeddings = true: the head is a copy of the embedding (training "
                   "would untie them)")
    if tok.mask_id != AUTHORS_MASK_ID:
        out.append(f"the mask token is id {tok.mask_id}, not the {AUTHORS_MASK_ID} the authors' "
                   "tokenizer uses")
    return out


def import_checkpoint(source: str, out, *, noise: str | None = None, noise_options=(),
                      tokenizer: str | None = None, revision: str | None = None,
                      overrides=(), host=None) -> dict:
    """Convert and write; returns what the command reports.  Torch loads only once the
    source and its config have passed their checks, so a refusal is immediate."""
    from difflaws.plugins import default_host

    host = host or default_host()
    out = Path(out)
    check_out(out)
    folder, origin = hub.resolve(source, revision)
    cfg, raw_config = gidd_config.read_config(folder)
    where = str(folder / gidd_config.CONFIG_FILE)
    to_spec.refuse_unhonourable(cfg, where)
    noise_cfg = noise_config(cfg, noise, noise_options, host, where)
    tok_file = Path(tokenizer) if tokenizer else folder / side_files.TOKENIZER
    if not tok_file.is_file():
        flag = f"--tokenizer {tokenizer}" if tokenizer else f"{folder} has no tokenizer.json, so"
        raise UserError(f"{flag}: difflaws needs the model's Hugging Face tokenizer.json (with "
                        "its <|mask|> token) to encode prompts and data; pass --tokenizer FILE")
    import torch

    from difflaws.checkpoint import io
    from difflaws.hf import tensors
    from difflaws.hf.weight_files import read_weights

    weights_in, digests = read_weights(folder)
    weights = tensors.to_difflaws(cfg, weights_in, str(folder))
    del weights_in
    precision = "bf16" if all(t.dtype == torch.bfloat16 for t in weights.values()) else "fp32"
    name = out.name if rundir.check_name(out.name) is None else FALLBACK_NAME
    created = not out.exists()
    rundir.make_dir(out)
    try:
        with rundir.hold(out):
            side = side_files.copy_in(folder, out, tok_file if tokenizer else None)
            tok_copy = str((side / side_files.TOKENIZER).resolve())
            table = to_spec.spec_table(cfg, noise_cfg, tok_copy, name, str(out.resolve().parent),
                                       precision, host, where)
            spec = structured_spec(table, overrides, host, where)
            tok = check_tokenizer(spec, cfg, where)
            check_same_network(spec, cfg, tok.vocab_size)
            check_against_model(spec, tok, weights)
            io.save(out, 0, weights, {"step": 0}, keep=1)
            record = {**origin, "format": FORMAT, "tokenizer": str(tok_file.resolve()),
                      "config": raw_config,
                      "config_sha256": file_sha256(folder / gidd_config.CONFIG_FILE),
                      "weights_sha256": digests}
            engine.write_spec(spec, out, host, extra={IMPORTED: record})
    except BaseException:
        clean_up(out, created)
        raise
    return {"run_dir": str(out), "noise": host.registry.kind_of(spec.noise).name,
            "shape": spec.backbone.resolved_shape().name, "notes": notes(cfg, tok)}


#: config keys whose value the written spec must reproduce (read back through the export)
SAME = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
        "resolved_head_dim", "attn_soft_cap", "max_position_embeddings", "rms_norm_eps",
        "rope_theta", "attention_bias", "min_log_snr", "max_log_snr")


def check_same_network(spec, cfg, vocab_size: int) -> None:
    """The spec (after ``--set``) describes the network config.json does: the export's
    reading of it agrees key by key, scales and noise included."""
    from difflaws.hf.from_spec import gidd_config

    back = gidd_config(spec, vocab_size, "float32", where="the spec (with --set)")
    depth = cfg.num_hidden_layers
    pairs = [(key, getattr(cfg, key), getattr(back, key)) for key in SAME]
    pairs += [("resid_scale", cfg.resid_scale / depth, back.resid_scale / back.num_hidden_layers),
              ("head_scaling", cfg.head_scale(), back.head_scale())]
    for key, want, got in pairs:
        if want != got:
            raise UserError(f"--set: the spec no longer describes config.json's network: {key} "
                            f"is {want!r} there and {got!r} in the spec; drop the overrides of "
                            "the architecture")
    if cfg.noise_type is not None and not noise_share.same_prior(
            cfg.noise_type, back.noise_type, cfg.min_log_snr, cfg.max_log_snr):
        raise UserError(f"--set: the noise it makes contradicts config.json's noise_type = "
                        f"{cfg.noise_type:g}; drop the noise overrides")


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def clean_up(out: Path, created: bool) -> None:
    """Remove what a failed import wrote (``out`` was new or empty when it began)."""
    if created:
        rundir.remove(out)
        return
    for child in list(out.iterdir()):
        rundir.remove(child)


def imported_config(run_dir):
    """The GIDD config a run was imported from (its provenance), or None."""
    try:
        record = json.loads((Path(run_dir) / rundir.PROVENANCE_FILE).read_text())[IMPORTED]
        if record.get("format") != FORMAT:
            return None
        return gidd_config.parse_config(record["config"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError, UserError):
        return None  # not imported, or its record unreadable: the export uses the defaults
