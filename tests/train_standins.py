"""Tiny stand-in noise process, backbone and parameterization for training-loop tests.

They implement the cross-team interfaces (noise_batch/loss, model(tokens, log_snr,
doc_ids, prefix_len), param_records, init_weights, figures) with the least code,
so the loop, checkpoints and store can be tested on their own.  Registered as a
plugin module under kinds named ``standin``.
"""

from __future__ import annotations

import attrs
import torch
import torch.nn.functional as F

from difflaws import hookimpl
from difflaws.interfaces import (BackboneConfig, NoiseConfig, ParameterizationConfig,
                                 SamplerConfig)
from difflaws.model.records import ParamRecord


@attrs.frozen
class StandinBatch:
    z: torch.Tensor
    log_snr: torch.Tensor
    loss_mask: torch.Tensor
    prefix_len: torch.Tensor
    proposal: torch.Tensor


class StandinProcess:
    """Masked corruption with α = σ(λ), λ ~ U[-4, 4] per sequence; CE on masked tokens."""

    def __init__(self, vocab_size, mask_id):
        self.vocab_size, self.mask_id = vocab_size, mask_id

    def noise_batch(self, x, generator):
        B, T = x.shape
        lam = torch.rand(B, 1, generator=generator, device=x.device) * 8 - 4
        lam = lam.expand(B, T).contiguous()
        keep = torch.rand(B, T, generator=generator, device=x.device) < torch.sigmoid(lam)
        z = torch.where(keep, x, torch.full_like(x, self.mask_id))
        return StandinBatch(z, lam, torch.ones_like(x, dtype=torch.bool),
                            torch.zeros(B, dtype=torch.long, device=x.device),
                            torch.sigmoid(lam) * torch.sigmoid(-lam))

    def loss(self, logits, batch, x):
        ce = F.cross_entropy(logits.float().flatten(0, 1), x.flatten(), reduction="none")
        masked = (batch.z == self.mask_id).flatten().float()
        per_token = ce * masked
        n = int(batch.loss_mask.sum())
        return {"loss": per_token.sum() / n, "nelbo": per_token.sum() / n, "n_tokens": n}


@attrs.frozen(kw_only=True)
class StandinNoiseConfig(NoiseConfig):
    """Stand-in masked noise for tests."""

    def make_process(self, vocab_size, mask_id, **options):
        return StandinProcess(vocab_size, mask_id)


class StandinModel(torch.nn.Module):
    def __init__(self, vocab_size, width, device):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab_size, width, device=device)
        self.mix = torch.nn.Linear(2 * width, width, device=device)
        self.head = torch.nn.Linear(width, vocab_size, device=device)

    def forward(self, tokens, log_snr, doc_ids=None, prefix_len=None):
        h = self.embed(tokens)
        # context: the mean embedding of the sequence, so the model can beat a unigram
        ctx = h.mean(dim=1, keepdim=True).expand_as(h)
        h = torch.relu(self.mix(torch.cat([h, ctx], dim=-1)))
        return self.head(h)

    def param_records(self):
        return [ParamRecord(name, "hidden" if p.ndim > 1 else "bias", None,
                            lr_mult=1.0 if p.ndim > 1 else 0.5)
                for name, p in self.named_parameters()]

    def init_weights(self, generator):
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=generator) * 0.02)


@attrs.frozen(kw_only=True)
class StandinBackboneConfig(BackboneConfig):
    """Stand-in backbone for tests."""

    width: int = 16
    max_seq_len: int | None = 4096

    def build(self, vocab_size, seq_len=None, parameterization=None, device="cpu", meta=False,
              **context):
        return StandinModel(vocab_size, self.width, device)

    def max_context(self):
        return self.max_seq_len

    def figures(self, vocab_size, seq_len):
        d = self.width
        non_emb = 2 * d * d + d
        return {"non_embedding_params": non_emb, "total_params": non_emb + 2 * vocab_size * d,
                "flops_per_token_M": 6.0 * non_emb + 12 * seq_len * d,
                "flops_per_token_6P": 6.0 * non_emb}


@attrs.frozen(kw_only=True)
class StandinParameterizationConfig(ParameterizationConfig):
    """Stand-in parameterization for tests."""

    def build(self, **context):
        return None


class StandinSampler:
    def sample(self, denoiser, process, batch_size, seq_len, steps, prompt=None, generator=None):
        z = torch.full((batch_size, seq_len), process.mask_id, dtype=torch.long)
        for _ in range(steps):
            logits = denoiser(z, torch.zeros(z.shape))
            logits[..., process.mask_id] = -float("inf")
            z = torch.where(z == process.mask_id, logits.argmax(-1), z)
        return z


@attrs.frozen(kw_only=True)
class StandinSamplerConfig(SamplerConfig):
    """Stand-in sampler for tests."""

    def build(self, **context):
        return StandinSampler()


@hookimpl
def difflaws_register_kinds(register):
    register("noise", "standin", StandinNoiseConfig)
    register("backbone", "standin", StandinBackboneConfig)
    register("parameterization", "standin", StandinParameterizationConfig)
    register("sampler", "standin", StandinSamplerConfig)
