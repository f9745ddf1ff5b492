"""Held-out loss figure: fixed sequences, fixed noise draws, so evaluations are comparable.

The figure is the objective's ``nelbo``: the diffusion NELBO, or the exact
next-token NLL, both in nats per scored token."""

from __future__ import annotations

import torch

from difflaws.metrics.stats import weighted_mean_stderr
from difflaws.train.setup import field

VAL_SEED = 0x5EED  # the same noise draws for every evaluation of every run


@torch.no_grad()
def evaluate(model, objective, seqs, batches: int, batch_size: int, device, autocast,
             samples: int = 1, seed: int = VAL_SEED) -> dict:
    """Mean NELBO (nats/token) over ``batches`` batches × ``samples`` noise draws.

    The standard error treats each (batch, draw) mean as one independent
    estimate, weighted by its number of loss tokens.  An exact objective has no
    draws to repeat: it is scored once per batch whatever ``samples`` says.
    """
    samples = 1 if objective.exact else samples
    was_training = model.training
    model.eval()
    gen = torch.Generator(device=device).manual_seed(seed)
    means, weights = [], []
    for b in range(batches):
        x, doc_ids = seqs.batch_at(b * batch_size, batch_size)
        x, doc_ids = x.to(device), doc_ids.to(device)
        for _ in range(samples):
            batch = objective.batch(x, gen)
            with autocast():
                logits = model(batch.z, batch.log_snr, doc_ids=doc_ids, prefix_len=batch.prefix_len)
            out = objective.loss(logits, batch, x)
            means.append(float(field(out, "nelbo")))
            weights.append(float(field(out, "n_tokens")))
    model.train(was_training)
    mean, stderr = weighted_mean_stderr(means, weights)
    return {"nelbo": mean, "stderr": stderr, "n_tokens": int(sum(weights)),
            "n_estimates": len(means)}
