"""The ``transformer`` backbone kind: shape, architecture switches, and its size figures.

``figures`` is analytic (no torch), so planning a 10B run costs nothing;
``build(meta=True)`` builds the module on the meta device for exact counts.
"""

from __future__ import annotations

import attrs
from attrs.validators import ge, gt, in_, le, optional

from difflaws import hookimpl
from difflaws.model.shapes import Shape, default_head_dim, parse_shape_name
from difflaws.errors import FieldError, UserError
from difflaws.interfaces import AttentionConfig, BackboneConfig, default_of, key
from difflaws.spec.types import MAX_SEQ_LEN


@attrs.frozen(kw_only=True)
class TransformerConfig(BackboneConfig):
    """Pre-norm transformer (RMSNorm, QK-norm, RoPE, soft-capped attention, ReLU² MLP); causal for AR."""

    shape: str | None = key(None, doc='shape name L<depth>-D<width>[-H<heads>], e.g. "L8-D512"; '
                                      'or give width and depth')
    width: int | None = key(None, validator=optional(gt(0)),
                            doc="model width d (with depth, instead of shape)")
    depth: int | None = key(None, validator=optional(gt(0)),
                            doc="number of transformer blocks L (with width, instead of shape)")
    head_dim: int | None = key(None, validator=optional(gt(0)),
                               doc="per-head width; unset: from the shape's heads, "
                                   "else 64 up to width 1024 and 128 above")
    mlp_ratio: int = key(4, validator=[gt(0), le(64)],
                         doc="MLP hidden width as a multiple of the width")
    max_seq_len: int | None = key(None, validator=optional([gt(0), le(MAX_SEQ_LEN)]),
                                  doc="longest sequence accepted (train.seq_len must fit); "
                                      "unset: no limit")
    rope_theta: float = key(1e4, validator=gt(0.0), doc="RoPE base frequency")
    attn_softcap: float = key(30.0, validator=ge(0.0),
                              doc="soft-cap c of attention logits, c·tanh(s/c); 0 disables")
    attention_sink: bool = key(True, doc="add a learned key/value sink slot per head to attention")
    norm_eps: float = key(1e-6, validator=gt(0.0), doc="ε of every RMSNorm")
    conditioning: str = key("none", validator=in_(("none", "adaln")),
                            doc="how the network sees λ: none (infers it from the tokens) or "
                                "DiT-style adaLN-Zero")
    attention: AttentionConfig = key(default_of("attention"),
                                     doc="the attention kernel ([backbone.attention] table)")

    def __attrs_post_init__(self):
        self.resolved_shape()  # raise shape errors when the spec is loaded, not when built
        if self.attn_softcap > 0 and not self.attention.supports_softcap():
            raise FieldError("attention", "this kernel cannot soft-cap attention logits; "
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

    def max_context(self) -> int | None:
        return self.max_seq_len

    def supports_causal(self) -> bool:
        return True

    def reads_log_snr(self) -> bool:
        return self.conditioning != "none"

    def resized(self, width: int, depth: int) -> "TransformerConfig":
        """The head dimension is kept (capped at the width), so heads scale with width."""
        head_dim = self.head_dim or min(default_head_dim(width), width)
        try:
            return attrs.evolve(self, shape=None, width=width, depth=depth, head_dim=head_dim)
        except FieldError as exc:
            raise UserError(f"width {width}, depth {depth}: backbone.{exc.field}: {exc}") from None

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
            # M's score and value products over all T² pairs: 12·L·d·T (docs/theory.md §5)
            "attention_flops_per_token": 12 * shape.depth * shape.width * seq_len,
        }
        if vocab_size is not None:
            out["embedding_params"] = 2 * vocab_size * shape.width  # untied embedding and head
            out["total_params"] = non_embedding + out["embedding_params"]
        return out

    def build(self, vocab_size: int, seq_len: int | None = None, parameterization=None,
              device=None, meta: bool = False, causal: bool = False, **_):
        import torch

        from difflaws.model.transformer import Transformer

        if self.max_seq_len is not None and seq_len is not None and seq_len > self.max_seq_len:
            raise UserError(f"backbone.max_seq_len: train.seq_len {seq_len} exceeds it "
                            f"({self.max_seq_len}); raise max_seq_len or shorten the sequences")
        if parameterization is None:
            from difflaws.plugins import default_host

            parameterization = default_host().default_config("parameterization").build()
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
                                max_seq_len=self.max_seq_len, causal=causal)
        if not meta:
            model.init_weights()
        return model


@hookimpl
def difflaws_register_kinds(register):
    register("backbone", "transformer", TransformerConfig)
