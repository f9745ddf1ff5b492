"""A GIDD config → the difflaws spec tables that describe the same network.

Every architecture key maps to one spec key or is refused here with the reason
(docs/hf-interop.md has the table).  The GIDD format *is* the paper's
transformer, so this module builds the built-in kinds' configs directly (the
transformer backbone, CompleteP or, when the scales are not CompleteP's, the
standard parameterization, the Hugging Face tokenizer) and lets the converter
name them in the spec.
"""

from __future__ import annotations

from difflaws.errors import FieldError, UserError
from difflaws.hf.exact import shortest
from difflaws.spec.types import MAX_SEQ_LEN

PERFORMERS = ("eager", "flex")  # the authors' two attention implementations: the same maths


def refuse_unhonourable(cfg, where: str) -> None:
    """A UserError for the first key whose value difflaws's transformer cannot reproduce."""
    def no(key: str, why: str):
        raise UserError(f"{where}: {key} = {getattr(cfg, key)!r}: {why}")

    if cfg.is_causal:
        no("is_causal", "the authors' modeling code never applies it (their attention is "
                        "bidirectional), so what the model was trained as is unclear; difflaws "
                        "imports bidirectional diffusion models only. Set it to false if the "
                        "model is one")
    if not cfg.use_qk_norm:
        no("use_qk_norm", "difflaws's transformer always normalises q and k (docs/theory.md "
                          "§3) and has no switch to leave them raw; this model cannot be imported")
    if cfg.rope_scaling is not None:
        no("rope_scaling", "difflaws's RoPE has no scaling (and the authors' modeling code "
                           "ignores the key too); set it to null if the model was trained "
                           "without")
    if cfg.attn_soft_cap <= 0:
        no("attn_soft_cap", "the authors' attention divides by it (c·tanh(s/c)), so it must "
                            "be positive")
    if cfg.attn_performer not in PERFORMERS:
        no("attn_performer", f"the authors' code knows only {' and '.join(PERFORMERS)}")
    heads, head_dim, d = cfg.num_attention_heads, cfg.resolved_head_dim, cfg.hidden_size
    if heads * head_dim != d:
        no("head_dim" if cfg.head_dim is not None else "num_attention_heads",
           f"{heads} heads × head_dim {head_dim} ≠ hidden_size {d}; the authors' rotary "
           "table and difflaws's heads both need heads·head_dim = hidden_size")
    if head_dim % 2:
        no("head_dim" if cfg.head_dim is not None else "num_attention_heads",
           f"head_dim {head_dim} is odd; RoPE rotates pairs of dimensions")
    if cfg.intermediate_size % d or cfg.intermediate_size // d > 64:
        no("intermediate_size", f"difflaws's MLP width is an integer multiple (1 to 64) of "
                                f"hidden_size {d}")
    for key in ("rms_norm_eps", "rope_theta", "resid_scale"):
        if getattr(cfg, key) <= 0:
            no(key, "must be positive")
    if cfg.head_scale() <= 0:
        no("head_scaling", "must be positive (a zero or negative scale on the logits)")
    for key in ("init_scale", "emb_init_scale", "head_init_scale"):
        if getattr(cfg, key) < 0:
            no(key, "an init standard deviation is not negative")
    if cfg.max_position_embeddings > MAX_SEQ_LEN:
        no("max_position_embeddings", f"above the longest sequence difflaws takes "
                                      f"({MAX_SEQ_LEN:,})")
    if not cfg.min_log_snr < cfg.max_log_snr:
        no("max_log_snr", f"must exceed min_log_snr ({cfg.min_log_snr})")


def backbone(cfg, where: str):
    from difflaws.builtins.backbones import TransformerConfig

    try:
        return TransformerConfig(
            width=cfg.hidden_size, depth=cfg.num_hidden_layers, head_dim=cfg.resolved_head_dim,
            mlp_ratio=cfg.intermediate_size // cfg.hidden_size,
            max_seq_len=cfg.max_position_embeddings, rope_theta=cfg.rope_theta,
            attn_softcap=cfg.attn_soft_cap, attention_sink=cfg.attention_bias,
            norm_eps=cfg.rms_norm_eps)
    except (FieldError, ValueError, TypeError) as exc:
        raise UserError(f"{where}: the backbone it describes is not one difflaws builds: "
                        f"{exc}") from None


def parameterization(cfg):
    """CompleteP (α = 1) when resid_scale and head_scaling·d are the integers it stores;
    otherwise the standard parameterization with the two multipliers verbatim.  Either way
    the forward pass computes the authors' resid_scale / L and head scale exactly."""
    from difflaws.builtins.parameterizations import CompletePConfig, StandardConfig

    d, depth = cfg.hidden_size, cfg.num_hidden_layers
    residual, output = cfg.resid_scale / depth, cfg.head_scale()
    hidden_std = cfg.init_scale * cfg.linear_scale(d, d)
    base_depth, base_width = round(cfg.resid_scale), round(output * d)
    if base_depth >= 1 and base_width >= 1 and (base_depth / depth) ** 1.0 == residual \
            and base_width / d == output:
        return CompletePConfig(
            alpha=1.0, base_width=base_width, base_depth=base_depth,
            hidden_init_scale=shortest(hidden_std, hidden_std * d**0.5, lambda x: x / d**0.5),
            embedding_init_std=cfg.emb_init_scale, head_init_std=cfg.head_init_scale)
    return StandardConfig(init_std=hidden_std, embedding_init_std=cfg.emb_init_scale,
                          head_init_std=cfg.head_init_scale, residual_mult=residual,
                          output_mult=output)


def tokenizer(cfg, path: str):
    from difflaws.builtins.tokenizers import HFTokenizerConfig

    return HFTokenizerConfig(path=path, vocab_size=cfg.vocab_size)


def spec_table(cfg, noise, tokenizer_path: str, name: str, out_dir: str, precision: str,
               host, where: str) -> dict:
    """The spec, as the TOML tables ``--set`` overrides apply to (data and the rest: defaults)."""
    from difflaws.interfaces import interface_for

    def table(category, config):
        return host.converter.unstructure(config, interface_for(category))

    return {"name": name, "out_dir": out_dir,
            "noise": table("noise", noise),
            "backbone": table("backbone", backbone(cfg, where)),
            "parameterization": table("parameterization", parameterization(cfg)),
            "tokenizer": table("tokenizer", tokenizer(cfg, tokenizer_path)),
            "train": {"seq_len": cfg.max_position_embeddings, "precision": precision}}
