"""Generative perplexity: how likely a judge finds a run's samples (docs/evaluation.md §2).

Gen-PPL = exp(Σ NLL / Σ tokens) over every judge token of every sample: the
exponential of the judge's mean NLL per judge token.  Its standard error is
that of the mean NLL, each sample one estimate weighted by its judge tokens.
"""

from __future__ import annotations

import math

from difflaws.metrics.metric import Metric
from difflaws.metrics.stats import weighted_mean_stderr


def generative_perplexity(judge, tokens, settings: dict | None = None) -> list[Metric]:
    """``gen_nll`` (nats per judge token, ± s.e.) and ``gen_ppl`` of the rows of ``tokens``."""
    samples = tokens.tolist()
    per_sample = [judge.rows(s) for s in samples]
    flat = [row for rows in per_sample for row in rows]
    scores = iter(judge.scorer.score(flat))
    nll, count = [], []
    for rows in per_sample:
        parts = [next(scores) for _ in rows]
        n = sum(len(p.log_probs) for p in parts)
        count.append(n)
        nll.append(-sum(float(p.log_probs.sum()) for p in parts) / n if n else math.nan)
    mean, se = weighted_mean_stderr(nll, count)
    settings = {**(settings or {}), **judge.settings}
    total = sum(count)
    return [Metric("gen_nll", mean, se, total, settings),
            Metric("gen_ppl", math.exp(min(mean, 700)) if math.isfinite(mean) else math.nan,
                   math.nan, total, settings)]
