"""A bidirectional ConvMixer denoiser: no attention, so cost is linear in the sequence length.

    h₀ = E[tokens]
    h ← h + r·mix(norm(h))      depthwise convolution over positions, centred
    h ← h + r·mlp(norm(h))      ReLU² channel MLP (the transformer's)
    logits = m·head(norm(h))

with r and m the parameterization's residual and output multipliers.  Like
the transformer, the network ignores λ and infers the noise level from the
tokens.  The convolution obeys the same visibility rule as attention
(``difflaws.model.masks``): a token sees only its own document, and a clean
prompt-prefix token sees only the prefix.

Every parameter is tagged with a role when it is created, so any
parameterization (standard, CompleteP, μP...) decides its init and LR.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from difflaws.model.mlp import SquaredReluMLP, linear
from difflaws.model.norm import RMSNorm
from difflaws.model.records import init_from_records, records_of
from difflaws.model.roles import tag


def visibility(doc_ids, prefix_len, seq_len: int, half: int, device):
    """[B, T, k] bool: may position t read position t + j − half?  None: everything visible
    (positions past either end read the zero padding)."""
    if doc_ids is None and prefix_len is None:
        return None
    batch = (doc_ids if doc_ids is not None else prefix_len).shape[0]
    docs = doc_ids if doc_ids is not None else torch.zeros(batch, seq_len, dtype=torch.long,
                                                           device=device)
    pos = torch.arange(seq_len, device=device)
    noisy = (pos[None, :] >= prefix_len[:, None]) if prefix_len is not None else \
        torch.ones(batch, seq_len, dtype=torch.bool, device=device)
    padded_docs = F.pad(docs, (half, half), value=-1)
    padded_noisy = F.pad(noisy, (half, half), value=False)
    rows = []
    for j in range(2 * half + 1):
        same_doc = padded_docs[:, j:j + seq_len] == docs
        # attention's rule noisy(query) ≥ noisy(key): clean prefix tokens never read noise
        rows.append(same_doc & (noisy | ~padded_noisy[:, j:j + seq_len]))
    return torch.stack(rows, dim=-1)


class TokenMixer(nn.Module):
    """Depthwise convolution over positions: out[t] = b + Σ_j w[:, j]·x[t + j − k//2]."""

    def __init__(self, width: int, kernel_size: int):
        super().__init__()
        self.half = kernel_size // 2
        # fan-in k whatever the width: "embedding"-like in μP terms (roles.py), so a
        # parameterization gives it a width-independent init and LR, not the 1/d of matrices
        self.weight = tag(nn.Parameter(torch.empty(width, kernel_size)), "embedding")
        self.bias = tag(nn.Parameter(torch.empty(width)), "bias")

    def forward(self, x, visible=None):
        seq = x.shape[1]
        padded = F.pad(x, (0, 0, self.half, self.half))  # zeros beyond both ends
        out = self.bias
        for j in range(2 * self.half + 1):
            shifted = padded[:, j:j + seq]
            if visible is not None:
                shifted = shifted * visible[..., j, None]
            out = out + shifted * self.weight[:, j]
        return out


class MixerBlock(nn.Module):
    def __init__(self, width: int, kernel_size: int, mlp_ratio: int, eps: float,
                 residual_mult: float):
        super().__init__()
        self.residual_mult = residual_mult
        self.mix_norm = RMSNorm(width, eps)
        self.mix = TokenMixer(width, kernel_size)
        self.mlp_norm = RMSNorm(width, eps)
        self.mlp = SquaredReluMLP(width, mlp_ratio)

    def forward(self, h, visible=None):
        r = self.residual_mult
        h = h + r * self.mix(self.mix_norm(h), visible)
        return h + r * self.mlp(self.mlp_norm(h))


class ConvMixer(nn.Module):
    def __init__(self, *, vocab_size: int, width: int, depth: int, kernel_size: int,
                 mlp_ratio: int, norm_eps: float, parameterization):
        super().__init__()
        self.width, self.depth, self.half = width, depth, kernel_size // 2
        self.parameterization = parameterization
        mult = parameterization.multipliers(width=width, depth=depth)
        self.embedding_mult, self.output_mult = mult.embedding, mult.output
        # an empty weight skips nn.Embedding's own normal_: init_weights draws it anyway
        self.embed = nn.Embedding(vocab_size, width, _weight=torch.empty(vocab_size, width))
        tag(self.embed.weight, "embedding")
        self.blocks = nn.ModuleList(
            MixerBlock(width, kernel_size, mlp_ratio, norm_eps, mult.residual)
            for _ in range(depth))
        self.final_norm = RMSNorm(width, norm_eps)
        self.head = linear(width, vocab_size, bias=False, role="head")

    # -- what the trainer, optimizer, FSDP and coordcheck use --------------
    def repeated_blocks(self) -> list[nn.Module]:
        return list(self.blocks)

    def probes(self) -> dict[str, list[nn.Module]]:
        return {"embedding": [self.embed], "mixer": [b.mix for b in self.blocks],
                "mlp": [b.mlp for b in self.blocks], "residual": list(self.blocks),
                "logits": [self.head]}

    def param_records(self):
        return records_of(self, self.parameterization, self.width, self.depth)

    def init_weights(self, generator: torch.Generator | None = None) -> None:
        init_from_records(self, self.param_records(), generator)

    def forward(self, tokens, log_snr=None, doc_ids=None, prefix_len=None):
        visible = visibility(doc_ids, prefix_len, tokens.shape[1], self.half, tokens.device)
        h = self.embed(tokens)
        if self.embedding_mult != 1.0:
            h = h * self.embedding_mult
        for block in self.blocks:
            h = block(h, visible)
        h = self.final_norm(h)
        # scaling the d-wide input of the bias-free head equals scaling its V-wide output
        return self.head(h * self.output_mult if self.output_mult != 1.0 else h)
