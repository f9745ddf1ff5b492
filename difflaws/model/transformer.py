"""The network: a pre-norm transformer mapping (tokens, λ) to logits.

As a denoiser it is bidirectional and, per the paper (docs/theory.md §3),
ignores λ and must infer the noise level from the tokens; ``conditioning =
"adaln"`` adds DiT-style adaLN-Zero.  Built ``causal`` it is the
autoregressive baseline: the same weights and layers, each position seeing
only earlier ones.  Generation passes a ``KVCache`` so that keys and values
of earlier positions are computed once.
"""

from __future__ import annotations

import torch
from torch import nn

from difflaws.model.block import Block
from difflaws.model.conditioning import LogSNREmbedding, Modulation, modulate
from difflaws.model.kv_cache import KVCache
from difflaws.model.masks import AttentionMask
from difflaws.model.mlp import linear
from difflaws.model.norm import RMSNorm
from difflaws.model.records import init_from_records, records_of
from difflaws.model.roles import tag
from difflaws.model.rope import rope_angles


class Transformer(nn.Module):
    def __init__(self, *, shape, vocab_size: int, kernel, parameterization, softcap: float = 30.0,
                 sink: bool = True, rope_theta: float = 1e4, norm_eps: float = 1e-6,
                 conditioning: str = "none", max_seq_len: int | None = None,
                 causal: bool = False):
        super().__init__()
        self.shape, self.vocab_size, self.causal = shape, vocab_size, causal
        self.parameterization = parameterization
        self.rope_theta, self.max_seq_len = rope_theta, max_seq_len
        mult = parameterization.multipliers(width=shape.width, depth=shape.depth)
        self.embedding_mult, self.output_mult = mult.embedding, mult.output
        adaln = conditioning == "adaln"

        # init_weights initialises it; skipping nn.Embedding's own normal_ also keeps meta builds
        # fast (torch's meta random kernels pull in heavy imports on first use)
        self.embed = nn.Embedding(vocab_size, shape.width, _weight=torch.empty(vocab_size, shape.width))
        tag(self.embed.weight, "embedding")
        self.log_snr_embed = LogSNREmbedding(shape.width) if adaln else None
        self.blocks = nn.ModuleList(
            Block(shape.width, shape.head_dim, shape.mlp_ratio, kernel, softcap, sink, norm_eps,
                  mult.residual, adaln)
            for _ in range(shape.depth))
        self.final_norm = RMSNorm(shape.width, norm_eps)
        self.final_modulation = Modulation(shape.width, 2) if adaln else None
        self.head = linear(shape.width, vocab_size, bias=False, role="head")

    def repeated_blocks(self) -> list[nn.Module]:
        return list(self.blocks)

    def probes(self) -> dict[str, list[nn.Module]]:
        return {"embedding": [self.embed], "attention": [b.attn for b in self.blocks],
                "mlp": [b.mlp for b in self.blocks], "residual": list(self.blocks),
                "logits": [self.head]}

    def param_records(self):
        return records_of(self, self.parameterization, self.shape.width, self.shape.depth)

    def init_weights(self, generator: torch.Generator | None = None) -> None:
        init_from_records(self, self.param_records(), generator)

    def new_cache(self, capacity: int) -> KVCache:
        """An empty cache for up to ``capacity`` positions (pass it to every forward)."""
        return KVCache(capacity)

    def forward(self, tokens, log_snr=None, doc_ids=None, prefix_len=None, cache=None):
        batch, seq = tokens.shape
        offset = cache.length if cache is not None else 0
        if self.max_seq_len is not None and offset + seq > self.max_seq_len:
            raise ValueError(f"sequence length {offset + seq} exceeds backbone.max_seq_len "
                             f"{self.max_seq_len}")
        mask = AttentionMask(seq, doc_ids, prefix_len, causal=self.causal, offset=offset)
        cos, sin = rope_angles(offset + seq, self.shape.head_dim, self.rope_theta, tokens.device)
        rope = (cos[offset:], sin[offset:])
        h = self.embed(tokens)
        if self.embedding_mult != 1.0:
            h = h * self.embedding_mult
        cond = None
        if self.log_snr_embed is not None:
            if log_snr is None:
                raise ValueError("conditioning = 'adaln' needs log_snr")
            cond = self.log_snr_embed(log_snr.reshape(batch, -1).expand(batch, seq))
        for i, block in enumerate(self.blocks):
            h = block(h, mask, rope, cond, cache.layer(i) if cache is not None else None)
        if cache is not None:
            cache.advance(seq)
        h = self.final_norm(h)
        if self.final_modulation is not None:
            h = modulate(h, *self.final_modulation(cond))
        # scaling the d-wide input of the (bias-free) head equals scaling its V-wide output, cheaper
        return self.head(h * self.output_mult if self.output_mult != 1.0 else h)
