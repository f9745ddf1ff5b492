"""A difflaws run's spec → the GIDD config that describes the same network.

The format expresses difflaws's bidirectional transformer without λ
conditioning, with any parameterization whose embedding multiplier is 1, and a
noise whose π_λ is σ(λ + b)·uniform + (1 − σ(λ + b))·mask; everything else is
refused with the reason.  The multipliers and init stds are read through the
parameterization's interface (``multipliers``, per-tensor records), the noise
through its π_λ, so any kind that fits the format exports.

Written: every key of :class:`difflaws.hf.gidd_config.GiddConfig`, with
``weight_scaling = 1.0`` (the scales live in the weights), ``mlp_bias = true``,
``tie_word_embeddings = false``, ``use_qk_norm = true``, ``is_causal = false``,
``rope_scaling = null``, plus ``model_type``, ``architectures`` and the dtype.
A run imported from this format also gets back the source's bookkeeping keys
and, where they still describe the run, its ``noise_type``, ``bos_token_id``
and ``attn_performer`` values verbatim.
"""

from __future__ import annotations

import attrs

from difflaws.errors import UserError
from difflaws.hf import noise_share
from difflaws.hf.exact import shortest
from difflaws.hf.gidd_config import ARCHITECTURE, DTYPE_KEYS, MODEL_TYPE, GiddConfig

#: a tensor of each parameter role whose init std becomes init_scale, emb_init_scale, ...
INIT_PROBES = {"init_scale": "blocks.0.attn.qkv.weight", "emb_init_scale": "embed.weight",
               "head_init_scale": "head.weight"}


def refuse_inexpressible(spec, where: str) -> None:
    from difflaws.builtins.backbones import TransformerConfig

    if not isinstance(spec.backbone, TransformerConfig):
        raise UserError(f"{where}: backbone: the GIDD format holds difflaws's transformer "
                        "backbone only, not this one")
    if spec.objective.causal():
        raise UserError(f"{where}: objective: this run's model attends causally (next-token "
                        "prediction); the GIDD format holds bidirectional diffusion models only")
    if not spec.objective.needs_noise() or spec.noise is None:
        raise UserError(f"{where}: objective: this run trains no noise process, and the GIDD "
                        "format records one (noise_type); it holds diffusion models only")
    if spec.backbone.reads_log_snr():
        raise UserError(f"{where}: backbone.conditioning: the model reads λ (adaLN); the GIDD "
                        "architecture has no noise conditioning, so its weights have no place "
                        "in the format")
    if spec.backbone.attn_softcap <= 0:
        raise UserError(f"{where}: backbone.attn_softcap = 0: the GIDD attention always "
                        "soft-caps its logits (and divides by the cap); export a run with a "
                        "positive cap")


def gidd_config(spec, vocab_size: int, dtype_name: str, tokenizer=None, source=None,
                where: str = "spec") -> GiddConfig:
    """The config for ``spec``'s network; ``source``: the GIDD config it was imported from."""
    refuse_inexpressible(spec, where)
    shape = spec.backbone.resolved_shape()
    d, depth = shape.width, shape.depth
    params = spec.parameterization.build()
    mult = params.multipliers(width=d, depth=depth)
    if mult.embedding != 1.0:
        raise UserError(f"{where}: parameterization: its embedding multiplier is "
                        f"{mult.embedding:g}; the GIDD format has none (only the residual and "
                        "head scales)")
    noise = spec.noise
    shift = noise_share.shift_of(noise, f"{where}: noise")
    base = source or GiddConfig()
    kept = base.noise_type is not None and noise_share.same_prior(
        base.noise_type, shift, noise.log_snr_min, noise.log_snr_max)
    noise_type = base.noise_type if kept else noise_share.written(shift)
    bookkeeping = {k: v for k, v in base.bookkeeping.items() if k not in DTYPE_KEYS}
    bookkeeping.setdefault("model_type", MODEL_TYPE)
    bookkeeping.setdefault("architectures", [ARCHITECTURE])
    dtype_key = next((k for k in DTYPE_KEYS if k in base.bookkeeping), DTYPE_KEYS[0])
    bookkeeping[dtype_key] = dtype_name
    return GiddConfig(
        vocab_size=vocab_size, hidden_size=d, intermediate_size=shape.mlp_ratio * d,
        num_hidden_layers=depth, num_attention_heads=shape.heads, head_dim=shape.head_dim,
        is_causal=False, attn_soft_cap=spec.backbone.attn_softcap,
        max_position_embeddings=spec.backbone.max_seq_len or spec.train.seq_len,
        resid_scale=shortest(mult.residual, mult.residual * depth, lambda x: x / depth),
        rms_norm_eps=spec.backbone.norm_eps, use_qk_norm=True,
        **init_stds(spec, params, vocab_size), weight_scaling=1.0, head_scaling=mult.output,
        bos_token_id=base.bos_token_id,
        eos_token_id=tokenizer.eos_id if tokenizer is not None else base.eos_token_id,
        rope_theta=spec.backbone.rope_theta, rope_scaling=None,
        attention_bias=spec.backbone.attention_sink, mlp_bias=True, tie_word_embeddings=False,
        attn_performer=base.attn_performer, noise_type=noise_type,
        min_log_snr=noise.log_snr_min, max_log_snr=noise.log_snr_max, bookkeeping=bookkeeping)


def init_stds(spec, params, vocab_size: int) -> dict:
    """init_scale, emb_init_scale and head_init_scale from the parameterization's records
    (only training from scratch reads them); a tensor left as built keeps the authors' default."""
    model = spec.backbone.build(vocab_size=vocab_size, parameterization=params, meta=True)
    records = {r.name: r for r in model.param_records()}
    defaults = attrs.fields_dict(GiddConfig)
    return {key: records[name].init_std if records[name].init_std is not None
            else defaults[key].default for key, name in INIT_PROBES.items()}
