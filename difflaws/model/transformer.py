"""The denoiser: a bidirectional pre-norm transformer mapping (tokens, λ) to logits.

Per the paper (math.md §3) the network ignores λ and must infer the noise
level from the tokens; ``conditioning = "adaln"`` adds DiT-style adaLN-Zero.
"""

from __future__ import annotations

import torch
from torch import nn

from difflaws.model.block import Block
from difflaws.model.conditioning import LogSNREmbedding, Modulation, modulate
from difflaws.model.masks import AttentionMask
from difflaws.model.mlp import linear
from difflaws.model.norm import RMSNorm
from difflaws.model.roles import role_of, tag
from difflaws.model.rope import rope_angles


class Transformer(nn.Module):
    def __init__(self, *, shape, vocab_size: int, kernel, parameterization, softcap: float = 30.0,
                 sink: bool = True, rope_theta: float = 1e4, norm_eps: float = 1e-6,
                 conditioning: str = "none", max_seq_len: int | None = None):
        super().__init__()
        self.shape, self.vocab_size = shape, vocab_size
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

    def param_records(self):
        return [self.parameterization.record(name, role_of(p), tuple(p.shape),
                                             width=self.shape.width, depth=self.shape.depth)
                for name, p in self.named_parameters()]

    @torch.no_grad()
    def init_weights(self, generator: torch.Generator | None = None) -> None:
        """Initialise every tensor as its record says (None: leave, 0: zeros, else N(0, std²))."""
        params = dict(self.named_parameters())
        for record in self.param_records():
            p = params[record.name]
            if record.init_std is None or p.is_meta:
                continue
            if record.init_std == 0.0:
                p.zero_()
            elif generator is None or generator.device == p.device:
                p.normal_(0.0, record.init_std, generator=generator)
            else:
                draw = torch.randn(p.shape, generator=generator, device=generator.device)
                p.copy_(draw * record.init_std)

    def forward(self, tokens, log_snr=None, doc_ids=None, prefix_len=None):
        batch, seq = tokens.shape
        if self.max_seq_len is not None and seq > self.max_seq_len:
            raise ValueError(f"sequence length {seq} exceeds backbone.max_seq_len {self.max_seq_len}")
        mask = AttentionMask(seq, doc_ids, prefix_len)
        rope = rope_angles(seq, self.shape.head_dim, self.rope_theta, tokens.device)
        h = self.embed(tokens)
        if self.embedding_mult != 1.0:
            h = h * self.embedding_mult
        cond = None
        if self.log_snr_embed is not None:
            if log_snr is None:
                raise ValueError("conditioning = 'adaln' needs log_snr")
            cond = self.log_snr_embed(log_snr.reshape(batch, -1).expand(batch, seq))
        for block in self.blocks:
            h = block(h, mask, rope, cond)
        h = self.final_norm(h)
        if self.final_modulation is not None:
            h = modulate(h, *self.final_modulation(cond))
        # scaling the d-wide input of the (bias-free) head equals scaling its V-wide output, cheaper
        return self.head(h * self.output_mult if self.output_mult != 1.0 else h)
