"""The module the ``difflaws`` entry point names: the ``convmixer`` backbone's config.

The config is torch-free: ``difflaws validate``, ``run --dry-run`` and
``plan`` size a model from ``figures()`` alone, so planning a large one costs
nothing.  The module is built (and torch imported) only in ``build()``.
"""

from __future__ import annotations

import attrs
from attrs.validators import ge, gt

from difflaws import hookimpl
from difflaws.errors import FieldError, UserError
from difflaws.interfaces import BackboneConfig, key


def _odd(instance, attribute, value):
    if value % 2 == 0:
        raise FieldError(attribute.name, f"{value} is even; a centred (bidirectional) kernel "
                                         "needs an odd size, e.g. 7")


@attrs.frozen(kw_only=True)
class ConvMixerConfig(BackboneConfig):
    """Bidirectional ConvMixer: depthwise-conv token mixing + ReLU² channel MLP, pre-RMSNorm."""

    width: int = key(256, validator=gt(0), doc="channels d")
    depth: int = key(4, validator=gt(0), doc="blocks L")
    kernel_size: int = key(7, validator=[ge(1), _odd],
                           doc="positions each block mixes, centred on the token (odd)")
    mlp_ratio: int = key(4, validator=gt(0), doc="channel-MLP hidden width / d")
    norm_eps: float = key(1e-6, validator=gt(0.0), doc="RMSNorm ε")

    # -- sizes, without building ----------------------------------------
    def block_params(self) -> int:
        """One block, as ``convmixer.MixerBlock`` builds it."""
        d, k, hidden = self.width, self.kernel_size, self.mlp_ratio * self.width
        norms = 2 * d
        mixer = d * k + d  # depthwise kernel + bias
        mlp = 2 * d * hidden + hidden + d  # up and down, with biases
        return norms + mixer + mlp

    def figures(self, vocab_size: int | None, seq_len: int) -> dict:
        d, L, k = self.width, self.depth, self.kernel_size
        non_embedding = L * self.block_params() + d  # + the final norm's gain
        out = {
            "width": d, "depth": L, "kernel_size": k,
            "receptive_field": 1 + L * (k - 1),  # tokens a logit can depend on
            "materializes_attention_scores": False,  # no attention: no T×T tensor
            "non_embedding_params": non_embedding,
            # forward + backward = 3 × forward = 6 FLOPs per weight per token: the MLP's
            # 2·ratio·d² weights and the k·d depthwise taps (head and embedding excluded,
            # as the transformer's M excludes them).  Unlike attention, nothing grows with T.
            "flops_per_token_M": 6 * L * (2 * self.mlp_ratio * d * d + k * d),
            "flops_per_token_6P": 6 * non_embedding,
            "embedding_params": None, "total_params": None,
        }
        if vocab_size is not None:
            out["embedding_params"] = 2 * vocab_size * d  # untied embedding and head
            out["total_params"] = non_embedding + out["embedding_params"]
        return out

    def resized(self, width: int, depth: int) -> "ConvMixerConfig":
        try:
            return attrs.evolve(self, width=width, depth=depth)
        except (FieldError, ValueError) as exc:
            raise UserError(f"width {width}, depth {depth}: {exc}") from None

    # -- the module -----------------------------------------------------
    def build(self, vocab_size: int, seq_len: int | None = None, parameterization=None,
              device=None, meta: bool = False, **context):
        import torch

        from difflaws_example_backbone.convmixer import ConvMixer

        if parameterization is None:
            from difflaws.plugins import default_host

            parameterization = default_host().default_config("parameterization").build()
        # on the meta device nothing is allocated: sizing a large model is free
        with torch.device("meta") if meta else torch.device(device or "cpu"):
            model = ConvMixer(vocab_size=vocab_size, width=self.width, depth=self.depth,
                              kernel_size=self.kernel_size, mlp_ratio=self.mlp_ratio,
                              norm_eps=self.norm_eps, parameterization=parameterization)
        if not meta:
            model.init_weights()
        return model


@hookimpl
def difflaws_register_kinds(register):
    register("backbone", "convmixer", ConvMixerConfig)
