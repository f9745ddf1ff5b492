"""The Monte Carlo NELBO of target tokens given a clean context (docs/evaluation.md §3).

For a context c (clean, at λ_max, attending only to itself: the prompt-prefix
mask of docs/theory.md §2.4) and targets y, the bound of docs/theory.md §2.3
restricted to the target positions is

    −log p(y | c) ≲ NELBO(y | c) = Σ_{i∈y} ∫ E_{z~q_λ(·|y)} [ w_λ(z_i, y_i)·(KL_i + IS_i) ] dλ

(the ≲: the prior term at λ_min and the reconstruction term at λ_max are left
out here, each of order σ(−λ_max) per token; the held-out ``val_nelbo`` includes
them, ``difflaws.noise.bound``, docs/theory.md §2.8).  With K draws of one λ per copy
from the run's own proposal p(λ), stratified over the K copies (unless the run's
noise sets ``stratified = false``), and z drawn
from q_λ independently per copy,

    ê_k = Σ_{i∈y} w_λk(z_ki, y_i)·(KL_ki + IS_ki) / p(λ_k),      NELBO ≈ mean_k ê_k,

unbiased, with standard error sd(ê)/√K (conservative: stratification only
lowers the variance).  −NELBO is then a lower bound, in expectation, on
log p(y | c).  Sequences longer than the model's window are scored in the
blocks of ``difflaws.metrics.windows``; block estimates add, and so do their
variances (independent draws).
"""

from __future__ import annotations

import contextlib
import math

import attrs
import torch

from difflaws.metrics.windows import blocks
from difflaws.noise.process import MIN_PROPOSAL
from difflaws.noise.schedule import stratified_uniform


@attrs.frozen
class Estimate:
    """The NELBO of the targets (nats, summed over them), its standard error and whether every
    target is the denoiser's argmax from the prior (lm-eval's ``is_greedy``)."""

    nelbo: float
    stderr: float
    greedy: bool


class ElboScorer:
    """Scores targets with ``model`` under the noise ``process``, ``samples`` draws per block."""

    min_context = 0

    def __init__(self, model, process, window: int, samples: int, generator, device,
                 autocast=contextlib.nullcontext, batch_size: int | None = None) -> None:
        self.model, self.process, self.window = model, process, int(window)
        self.samples, self.generator, self.device = int(samples), generator, device
        self.autocast = autocast
        # a forward pass holds an evaluation batch's worth of tokens, whatever ``samples`` is
        self.batch_size = max(1, int(batch_size or samples))

    def score(self, ids, first: int) -> Estimate:
        """The targets are ``ids[first:]``; ``ids[:first]`` is the context."""
        ids = torch.as_tensor([int(t) for t in ids], dtype=torch.long, device=self.device)
        total, var, greedy = 0.0, 0.0, True
        for lo, a, b in blocks(len(ids), first, self.window, self.min_context):
            mean, block_var, block_greedy = self._block(ids[lo:b], a - lo)
            total, var, greedy = total + mean, var + block_var, greedy and block_greedy
        return Estimate(total, math.sqrt(var) if self.samples > 1 else math.nan, greedy)

    @torch.no_grad()
    def _block(self, x: torch.Tensor, prefix: int):
        proc, K = self.process, self.samples
        lo, hi = proc.log_snr_min, proc.log_snr_max
        u = stratified_uniform(K, self.generator, self.device, proc.stratified)
        lam = proc.schedule.sample(u, lo, hi)
        density = proc.schedule.density(lam, lo, hi).clamp_min(MIN_PROPOSAL)
        step = max(1, self.batch_size * self.window // x.shape[0])  # copies per forward
        per_copy = torch.cat([self._copies(x, prefix, lam[i:i + step])
                              for i in range(0, K, step)]) / density.double()
        mean = float(per_copy.mean())
        var = float(per_copy.var()) / K if K > 1 else 0.0
        return mean, var, self._greedy(x, prefix)

    def _copies(self, x: torch.Tensor, prefix: int, lam: torch.Tensor) -> torch.Tensor:
        """Σ over the targets of w·(KL + IS), one value per copy, each at its own λ."""
        proc, K, L = self.process, lam.shape[0], x.shape[0]
        context = (torch.arange(L, device=self.device) < prefix)[None, :].expand(K, L)
        log_snr = torch.where(context, torch.full((K, L), proc.log_snr_max, device=self.device),
                              lam[:, None].expand(K, L).float())
        xs = x[None, :].expand(K, L)
        z = torch.where(context, xs, proc.corrupt(xs, log_snr, self.generator))
        prefix_len = torch.full((K,), prefix, dtype=torch.long, device=self.device)
        with self.autocast():
            logits = self.model(z, log_snr, prefix_len=prefix_len)
        integrand = proc.nelbo_integrand(logits.float(), z, xs, log_snr)[:, prefix:]
        return integrand.double().sum(1)

    def _greedy(self, x: torch.Tensor, prefix: int) -> bool:
        """Whether one denoising pass from a prior draw of the targets returns them exactly."""
        proc, L = self.process, x.shape[0]
        z = proc.prior((1, L), self.generator, self.device)
        z[0, :prefix] = x[:prefix]
        log_snr = torch.full((1, L), proc.log_snr_min, device=self.device)
        log_snr[0, :prefix] = proc.log_snr_max
        prefix_len = torch.full((1,), prefix, dtype=torch.long, device=self.device)
        with self.autocast():
            logits = self.model(z, log_snr, prefix_len=prefix_len)
        best = proc.denoised_log_probs(logits.float()).argmax(-1)[0, prefix:]
        return bool((best == x[prefix:]).all())
