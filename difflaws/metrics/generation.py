"""N unprompted samples from a run's sampler, with their function evaluations and wall time."""

from __future__ import annotations

import math
import time

import attrs
import torch

from difflaws.metrics.metric import Metric
from difflaws.metrics.sample_stats import REPETITION_ORDERS, repetition_rate, unigram_entropy
from difflaws.metrics.stats import mean_stderr


@attrs.frozen
class Generation:
    tokens: torch.Tensor  # [N, length] long, on the CPU
    nfe: list  # denoiser calls of each batch of samples
    seconds: float  # wall time of all sampler calls together
    settings: dict  # what produced them: sampler, steps, length, seed, batch size

    @property
    def n(self) -> int:
        return int(self.tokens.shape[0])


def generate(sampler, model, process, n: int, length: int, steps: int, batch_size: int,
             seed: int, device, settings: dict | None = None,
             reads_log_snr: bool = True) -> Generation:
    """``n`` samples of ``length`` tokens, ``batch_size`` rows per sampler call.

    The sampler sees the model as ``difflaws sample`` shows it, through
    ``difflaws.sampling.denoiser.CountedDenoiser``, which counts the forward passes
    and declares ``reads_log_snr`` (``BackboneConfig.reads_log_snr()``: whether a
    step that changed nothing may reuse its logits).  CUDA work is synchronised
    before each clock reading, so the time is the sampler's, not the launch queue's.
    """
    from difflaws.sampling.denoiser import CountedDenoiser

    counted = CountedDenoiser(model, reads_log_snr=reads_log_snr)
    gen = torch.Generator(device=device).manual_seed(seed)
    rows, nfe, seconds = [], [], 0.0
    for first in range(0, n, batch_size):
        size = min(batch_size, n - first)
        counted.calls = 0
        _sync(device)
        start = time.perf_counter()
        with torch.no_grad():
            out = sampler.sample(counted, process, size, length, steps, prompt=None,
                                 generator=gen, device=device)
        _sync(device)
        seconds += time.perf_counter() - start
        nfe.append(counted.calls)
        rows.append(out.detach().cpu())
    settings = {**(settings or {}), "n": n, "length": length, "steps": steps,
                "batch_size": batch_size, "seed": seed}
    return Generation(torch.cat(rows), nfe, seconds, settings)


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def sample_metrics(generation: Generation) -> list[Metric]:
    """Entropy, repetition rates, NFE and seconds per sample (docs/evaluation.md §1)."""
    rows = generation.tokens.tolist()
    settings = generation.settings
    out = []
    value, se = mean_stderr([unigram_entropy(r) for r in rows])
    out.append(Metric("sample_entropy", value, se, generation.n, settings))
    for order in REPETITION_ORDERS:
        rates = [r for r in (repetition_rate(row, order) for row in rows) if not math.isnan(r)]
        value, se = mean_stderr(rates)
        out.append(Metric(f"repetition_{order}", value, se, len(rates), settings))
    value, se = mean_stderr(generation.nfe)
    out.append(Metric("nfe", value, se, len(generation.nfe), settings))
    out.append(Metric("seconds_per_sample", generation.seconds / generation.n, math.nan,
                      generation.n, settings))
    return out
