"""The authors' tensor names and shapes ↔ difflaws's transformer's, both ways.

| the authors' (per layer ``model.layers.i.``)  | difflaws (per block ``blocks.i.``)       |
|-----------------------------------------------|------------------------------------------|
| ``self_attn.{q,k,v}_proj.weight`` [d, d] each | ``attn.qkv.weight`` [3d, d], q, k, v rows |
| ``self_attn.o_proj.weight``                   | ``attn.o.weight``                         |
| ``self_attn.{q,k}_norm.weight``               | ``attn.{q,k}_norm.gain``                  |
| ``self_attn.{k,v}_bias`` [H, d_head]          | ``attn.sink_{k,v}``                       |
| ``mlp.{up,down}_proj.{weight,bias}``          | ``mlp.{up,down}.{weight,bias}``           |
| ``{attn,mlp}_layernorm.weight``               | ``{attn,mlp}_norm.gain``                  |
| ``model.embed_tokens.weight``, ``lm_head.weight`` | ``embed.weight``, ``head.weight``         |
| ``model.norm.weight``                         | ``final_norm.gain``                       |

Both norms are (1 + g)·x/rms(x) with g stored, so gains copy unchanged.  The
authors' ``weight_scaling`` multiplies each block matrix's output by a constant
s; difflaws has no such factor, so s is folded into the matrix (W·s, computed in
float64, stored in float32).  Missing MLP biases are zeros; a tied head is a copy
of the embedding.  Every other tensor keeps its values and dtype, so a bf16
checkpoint stays bf16 and exports back bit for bit.
"""

from __future__ import annotations

import torch

from difflaws.errors import UserError

EMBED, FINAL_NORM, HEAD = "model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"
#: (difflaws, the authors') names of the per-layer norm gains and MLP projections
NORMS = (("attn_norm", "attn_layernorm"), ("mlp_norm", "mlp_layernorm"),
         ("attn.q_norm", "self_attn.q_norm"), ("attn.k_norm", "self_attn.k_norm"))
MLP = (("up", "up_proj"), ("down", "down_proj"))


def layer(i: int) -> str:
    return f"model.layers.{i}."


def expected_shapes(cfg) -> dict[str, tuple[int, ...]]:
    """Every tensor the authors' model holds for ``cfg``, with its shape."""
    d, inner, vocab = cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size
    heads, head_dim = cfg.num_attention_heads, cfg.resolved_head_dim
    shapes = {EMBED: (vocab, d), FINAL_NORM: (d,), HEAD: (vocab, d)}
    for i in range(cfg.num_hidden_layers):
        p = layer(i)
        shapes.update({f"{p}attn_layernorm.weight": (d,), f"{p}mlp_layernorm.weight": (d,),
                       f"{p}self_attn.q_norm.weight": (d,), f"{p}self_attn.k_norm.weight": (d,),
                       f"{p}mlp.up_proj.weight": (inner, d),
                       f"{p}mlp.down_proj.weight": (d, inner)})
        for name in ("q", "k", "v", "o"):
            shapes[f"{p}self_attn.{name}_proj.weight"] = (d, d)
        if cfg.attention_bias:
            shapes[f"{p}self_attn.k_bias"] = shapes[f"{p}self_attn.v_bias"] = (heads, head_dim)
        if cfg.mlp_bias:
            shapes[f"{p}mlp.up_proj.bias"], shapes[f"{p}mlp.down_proj.bias"] = (inner,), (d,)
    return shapes


def check_names(cfg, tensors: dict, where: str) -> None:
    """Refuse a missing, an unexpected or a mis-shaped tensor, naming it."""
    want = expected_shapes(cfg)
    optional = {HEAD} if cfg.tie_word_embeddings else set()  # their tied forward never reads it
    missing = sorted(set(want) - set(tensors) - optional)
    if missing:
        raise UserError(f"{where}: tensor {missing[0]!r} is missing ({len(missing)} missing in "
                        "all), though config.json implies it; the weights and config.json do "
                        "not belong together")
    extra = sorted(set(tensors) - set(want))
    if extra:
        raise UserError(f"{where}: tensor {extra[0]!r} is not one the GIDD model described by "
                        f"config.json holds ({len(extra)} such in all); the weights and "
                        "config.json do not belong together")
    for name, tensor in tensors.items():
        if tuple(tensor.shape) != want[name]:
            raise UserError(f"{where}: tensor {name!r} has shape {list(tensor.shape)}, but "
                            f"config.json implies {list(want[name])} (hidden_size "
                            f"{cfg.hidden_size}, intermediate_size {cfg.intermediate_size}, "
                            f"vocab_size {cfg.vocab_size}, num_attention_heads "
                            f"{cfg.num_attention_heads}); the weights and config.json do not "
                            "belong together")


def scaled(weight: torch.Tensor, scale: float) -> torch.Tensor:
    if scale == 1.0:
        return weight
    return (weight.to(torch.float64) * scale).to(torch.promote_types(weight.dtype, torch.float32))


def to_difflaws(cfg, tensors: dict, where: str) -> dict[str, torch.Tensor]:
    """The authors' state dict (checked against ``cfg``) as difflaws's transformer's."""
    check_names(cfg, tensors, where)
    d, inner = cfg.hidden_size, cfg.intermediate_size
    s_attn, s_up, s_down = cfg.linear_scale(d, d), cfg.linear_scale(d, inner), \
        cfg.linear_scale(inner, d)
    embed = tensors[EMBED]
    out = {"embed.weight": embed, "final_norm.gain": tensors[FINAL_NORM],
           "head.weight": embed.clone() if cfg.tie_word_embeddings else tensors[HEAD]}
    for i in range(cfg.num_hidden_layers):
        p, b = layer(i), f"blocks.{i}."
        qkv = [tensors[f"{p}self_attn.{n}_proj.weight"] for n in "qkv"]
        dtype = torch.promote_types(torch.promote_types(qkv[0].dtype, qkv[1].dtype), qkv[2].dtype)
        out[f"{b}attn.qkv.weight"] = scaled(torch.cat([w.to(dtype) for w in qkv]), s_attn)
        out[f"{b}attn.o.weight"] = scaled(tensors[f"{p}self_attn.o_proj.weight"], s_attn)
        for ours, theirs in NORMS:
            out[f"{b}{ours}.gain"] = tensors[f"{p}{theirs}.weight"]
        if cfg.attention_bias:
            out[f"{b}attn.sink_k"] = tensors[f"{p}self_attn.k_bias"]
            out[f"{b}attn.sink_v"] = tensors[f"{p}self_attn.v_bias"]
        for (ours, theirs), scale, width in zip(MLP, (s_up, s_down), (inner, d)):
            weight = scaled(tensors[f"{p}mlp.{theirs}.weight"], scale)
            out[f"{b}mlp.{ours}.weight"] = weight
            out[f"{b}mlp.{ours}.bias"] = tensors[f"{p}mlp.{theirs}.bias"] if cfg.mlp_bias \
                else torch.zeros(width, dtype=weight.dtype)  # no bias is a zero bias
    return out


def from_difflaws(weights: dict, depth: int, sink: bool) -> dict[str, torch.Tensor]:
    """difflaws's transformer weights under the authors' names (scale 1, biases, untied head)."""
    out = {EMBED: weights["embed.weight"], FINAL_NORM: weights["final_norm.gain"],
           HEAD: weights["head.weight"]}
    for i in range(depth):
        p, b = layer(i), f"blocks.{i}."
        q, k, v = weights[f"{b}attn.qkv.weight"].chunk(3, dim=0)
        out.update({f"{p}self_attn.q_proj.weight": q, f"{p}self_attn.k_proj.weight": k,
                    f"{p}self_attn.v_proj.weight": v,
                    f"{p}self_attn.o_proj.weight": weights[f"{b}attn.o.weight"]})
        for ours, theirs in NORMS:
            out[f"{p}{theirs}.weight"] = weights[f"{b}{ours}.gain"]
        if sink:
            out[f"{p}self_attn.k_bias"] = weights[f"{b}attn.sink_k"]
            out[f"{p}self_attn.v_bias"] = weights[f"{b}attn.sink_v"]
        for ours, theirs in MLP:
            out[f"{p}mlp.{theirs}.weight"] = weights[f"{b}mlp.{ours}.weight"]
            out[f"{p}mlp.{theirs}.bias"] = weights[f"{b}mlp.{ours}.bias"]
    return {name: t.contiguous() for name, t in out.items()}
