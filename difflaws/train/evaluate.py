"""Held-out NELBO: fixed sequences, fixed noise draws, so evaluations are comparable."""

from __future__ import annotations

import math

import torch

from difflaws.train.setup import field

VAL_SEED = 0x5EED  # the same noise draws for every evaluation of every run


@torch.no_grad()
def evaluate(model, process, seqs, batches: int, batch_size: int, device, autocast,
             samples: int = 1, seed: int = VAL_SEED) -> dict:
    """Mean NELBO (nats/token) over ``batches`` batches × ``samples`` noise draws.

    The standard error treats each (batch, draw) mean as one independent
    estimate, weighted by its number of loss tokens.
    """
    was_training = model.training
    model.eval()
    gen = torch.Generator(device=device).manual_seed(seed)
    means, weights = [], []
    for b in range(batches):
        x, doc_ids = seqs.batch_at(b * batch_size, batch_size)
        x, doc_ids = x.to(device), doc_ids.to(device)
        for _ in range(samples):
            batch = process.noise_batch(x, gen)
            with autocast():
                logits = model(batch.z, batch.log_snr, doc_ids=doc_ids, prefix_len=batch.prefix_len)
            out = process.loss(logits, batch, x)
            means.append(float(field(out, "nelbo")))
            weights.append(float(field(out, "n_tokens")))
    model.train(was_training)
    total = sum(weights)
    mean = sum(m * w for m, w in zip(means, weights)) / total
    n = len(means)
    if n > 1:
        var = sum(w * (m - mean) ** 2 for m, w in zip(means, weights)) / total * n / (n - 1)
        stderr = math.sqrt(var / n)
    else:
        stderr = float("nan")
    return {"nelbo": mean, "stderr": stderr, "n_tokens": int(total), "n_estimates": n}
