"""The ``transformer`` backbone kind: shape, architecture switches, and its size figures.

``figures`` is analytic (no torch), so planning a 10B run costs nothing;
``build(meta=True)`` builds the module on the meta device for exact counts.
"""

from __future__ import annotations

import attrs
from attrs.validators import ge, gt, in_, optional

from difflaws import hookimpl
from difflaws.components import Slot, default_kind
from difflaws.model.shapes import Shape, default_head_dim, parse_shape_name
from difflaws.spec.errors import FieldError, UserError


@attrs.frozen(kw_only=True)
class TransformerConfig:
    """Bidirectional pre-norm transformer (RMSNorm, QK-norm, RoPE, soft-capped attention, ReLU² MLP)."""

    shape: str | None = None  # "L8-D512", "L20-D1536-H12"; or give width and depth
    width: int | None = attrs.field(default=None, validator=optional(gt(0)))
    depth: int | None = attrs.field(default=None, validator=optional(gt(0)))
    head_dim: int | None = attrs.field(default=None, validator=optional(gt(0)))
    mlp_ratio: int = attrs.field(default=4, validator=gt(0))
    max_seq_len: int | None = attrs.field(default=None, validator=optional(gt(0)))
    rope_theta: float = attrs.field(default=1e4, validator=gt(0.0))
    attn_softcap: float = attrs.field(default=30.0, validator=ge(0.0))  # 0 disables
    attention_sink: bool = True
    norm_eps: float = attrs.field(default=1e-6, validator=gt(0.0))
    conditioning: str = attrs.field(default="none", validator=in_(("none", "adaln")))
    attention: Slot["attention"] = default_kind("attention", "auto")

    def __attrs_post_init__(self):
        self.resolved_shape()  # raise shape errors when the spec is loaded, not when built
        from difflaws.builtins.attention import XformersConfig

        if isinstance(self.attention, XformersConfig) and self.attn_softcap > 0:
            raise FieldError("attention", "xformers cannot soft-cap attention logits; "
                                          "set attn_softcap = 0 or use attention = 'sdpa'")

    def resolved_shape(self) -> Shape:
        if self.shape is not None:
            if self.width is not None or self.depth is not None:
                raise FieldError("shape", "give either shape or width and depth, not both")
            try:
                depth, width, heads = parse_shape_name(self.shape)
            except ValueError as exc:
                raise FieldError("shape", str(exc)) from None
            if depth == 0:
                raise FieldError("shape", f"{self.shape!r} has depth 0; a transformer needs L ≥ 1")
            if width == 0:
                raise FieldError("shape", f"{self.shape!r} has width 0")
            if heads is not None:
                if heads == 0 or width % heads:
                    raise FieldError("shape", f"width {width} is not divisible by {heads} heads")
                if self.head_dim is not None and self.head_dim != width // heads:
                    raise FieldError("head_dim", f"{self.head_dim} contradicts {self.shape!r} "
                                                 f"(head_dim {width // heads})")
                head_dim = width // heads
            else:
                head_dim = self.head_dim or default_head_dim(width)
            key = "shape"
        else:
            if self.width is None or self.depth is None:
                raise FieldError("shape", "give a shape name such as 'L8-D512', or width and depth")
            width, depth, key = self.width, self.depth, "width"
            head_dim = self.head_dim or default_head_dim(width)
        if width % head_dim:
            raise FieldError(key, f"width {width} is not divisible by head_dim {head_dim}; "
                                  "pick a multiple of it or set head_dim")
        if head_dim % 2:
            raise FieldError("head_dim", f"{head_dim} is odd; RoPE needs an even head_dim")
        return Shape(depth=depth, width=width, head_dim=head_dim, mlp_ratio=self.mlp_ratio)

    def figures(self, vocab_size: int | None, seq_len: int) -> dict:
        shape = self.resolved_shape()
        non_embedding = shape.non_embedding_params(self.attention_sink, self.conditioning)
        out = {
            "shape": shape.name, "depth": shape.depth, "width": shape.width,
            "heads": shape.heads, "head_dim": shape.head_dim,
            "non_embedding_params": non_embedding,
            "non_embedding_params_paper": shape.paper_non_embedding_params(),
            "embedding_params": None, "total_params": None,
            # the paper's M counts 12d² matmul weights per block; adaLN's extra weights add 6 each
            "flops_per_token_M": shape.flops_per_token_M(seq_len)
            + 6 * (non_embedding - shape.non_embedding_params(self.attention_sink, "none")),
            "flops_per_token_6P": 6 * non_embedding,
        }
        if vocab_size is not None:
            out["embedding_params"] = 2 * vocab_size * shape.width  # untied embedding and head
            out["total_params"] = non_embedding + out["embedding_params"]
        return out

    def build(self, vocab_size: int, seq_len: int | None = None, parameterization=None,
              device=None, meta: bool = False, **_):
        import torch

        from difflaws.model.transformer import Transformer

        if self.max_seq_len is not None and seq_len is not None and seq_len > self.max_seq_len:
            raise UserError(f"backbone.max_seq_len: train.seq_len {seq_len} exceeds it "
                            f"({self.max_seq_len}); raise max_seq_len or shorten the sequences")
        if parameterization is None:
            from difflaws.builtins.parameterizations import CompletePConfig

            parameterization = CompletePConfig().build()
        target = torch.device("meta") if meta else torch.device(device or "cpu")
        try:
            kernel = self.attention.build(device=target, softcap=self.attn_softcap)
        except UserError as exc:
            raise UserError(f"backbone.attention: {exc}") from None
        with target:
            model = Transformer(shape=self.resolved_shape(), vocab_size=vocab_size, kernel=kernel,
                                parameterization=parameterization, softcap=self.attn_softcap,
                                sink=self.attention_sink, rope_theta=self.rope_theta,
                                norm_eps=self.norm_eps, conditioning=self.conditioning,
                                max_seq_len=self.max_seq_len)
        if not meta:
            model.init_weights()
        return model


@hookimpl
def difflaws_register_kinds(register):
    register("backbone", "transformer", TransformerConfig)
