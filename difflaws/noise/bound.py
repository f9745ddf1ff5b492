"""The process NELBO: an upper bound on −log p(x), estimated one sequence at a time.

This is the figure difflaws reports as ``val_nelbo`` (docs/theory.md §2.8).
For a window x of T tokens, with q_λ the process's forward marginal,

    NELBO(x) = Σ_i KL(q_λmin(·|x_i) ‖ p_prior)                       prior, exact
             + ∫_{λmin}^{λmax} E_{z~q_λ(·|x)} Σ_i w_λ(z_i, x_i)·(KL_i + IS_i) dλ   Monte Carlo
             + E_{z~q_λmax(·|x)} Σ_i −log p(x_i | z)                    reconstruction

and E_x NELBO(x) ≥ E_x[−log p_θ(x)] ≥ H(X) for every denoiser, because it is the
(continuous-time) ELBO of a complete generative model: z ~ p_prior at λ_min, the
model's reverse process up to λ_max, then the decoder p(x|z).  What the training
loss reports is not this: its per-token-λ rows and prompt-prefix rows
(``per_token_fraction``, ``prompt_fraction``) estimate other integrals.  Here every
sequence draws one λ, shared by its tokens, and nothing is conditioned on.

* **Prior.**  p_prior = q_λmin(·|ū), ū uniform over the non-mask tokens:
  σ(λmin)·ū + σ(−λmin)·π_λmin.  It is data-independent and covers the support of
  every q_λmin(·|x) (under masked noise π_λmin alone gives x no mass, so the
  process's own π would make the KL infinite).  The samplers start from π_λmin,
  which differs from it by σ(λmin) ≈ 1e-4 of mass.
* **Reconstruction.**  The Bayes decoder p(x_i|z) ∝ q_λmax(z_i|x_i)·x̂_i(x_i) with
  x̂ the model's prediction at λ_max: its normaliser Σ_v q(z_i|v)·x̂_i(v) is
  q_λmax(z_i|x̂_i), so −log p(x_i|z) = −log q(z_i|x_i) − log x̂_i(x_i) + log q(z_i|x̂_i).
  It is exact where the model is: the denoiser that makes the reverse process
  exact under this parameterisation predicts x_i from the other tokens,
  x̂_i = p(x_i|z_{−i}), and then p(x_i|z) is the true posterior.
* **Integral.**  λ_b ~ r(λ) per sequence (stratified over the batch), weighted by
  1/r(λ_b): unbiased for any proposal r positive on the range.

Everything goes through the ``NoiseProcess`` API (``mixing``, ``log_mixing_at``,
``corrupt``, ``nelbo_integrand``, ``schedule``), so a third-party process gets the
bound as it is.
"""

from __future__ import annotations

import attrs
import torch

from difflaws.noise.batch import NoiseBatch
from difflaws.noise.logsig import log_sigmoid
from difflaws.noise.process import MIN_PROPOSAL, NoiseProcess, compute_dtype
from difflaws.noise.schedule import stratified_uniform

PILOT_BINS = 8  # bins of the fitted proposal
DEFENSIVE_SHARE = 0.5  # of the fitted proposal drawn from the run's own: weights stay ≤ 2/p


def at_least_fp32(logits: torch.Tensor) -> torch.Tensor:
    """The logits in float32, or float64 if they are: no [B, T, V] copy in float64."""
    return logits.to(compute_dtype(logits))


# -- proposals over λ -----------------------------------------------------------
class ScheduleProposal:
    """The run's schedule restricted to [λ_min, λ_max], as in training."""

    def __init__(self, schedule, lo: float, hi: float) -> None:
        self.schedule, self.lo, self.hi = schedule, float(lo), float(hi)

    def sample(self, u: torch.Tensor) -> torch.Tensor:
        return self.schedule.sample(u, self.lo, self.hi).clamp(self.lo, self.hi)

    def density(self, lam: torch.Tensor) -> torch.Tensor:
        return self.schedule.density(lam, self.lo, self.hi)


class FittedProposal:
    """A piecewise-constant density over λ bins, mixed with a base proposal.

    A draw u < ``share`` goes to the base (u/share through its inverse CDF), the
    rest to the bins, so stratified u stay stratified within each part and every
    draw is marginally distributed as the mixture ``share·base + (1−share)·bins``.
    """

    def __init__(self, base, edges: torch.Tensor, masses: torch.Tensor,
                 share: float = DEFENSIVE_SHARE) -> None:
        self.base, self.share = base, float(share)
        self.edges = edges.double()
        self.masses = (masses / masses.sum()).double()
        self.cum = torch.cat([torch.zeros(1, dtype=torch.float64), self.masses.cumsum(0)])

    def sample(self, u: torch.Tensor) -> torch.Tensor:
        u = u.double()
        from_base = u < self.share
        v = ((u - self.share) / (1 - self.share)).clamp(0, 1 - 1e-16)
        k = (torch.searchsorted(self.cum.to(u.device), v, right=True) - 1) \
            .clamp(0, len(self.masses) - 1)
        edges, cum, masses = (t.to(u.device) for t in (self.edges, self.cum, self.masses))
        within = (v - cum[k]) / masses[k].clamp_min(1e-300)
        binned = edges[k] + within.clamp(0, 1) * (edges[k + 1] - edges[k])
        return torch.where(from_base, self.base.sample((u / self.share).clamp(max=1 - 1e-16)),
                           binned)

    def density(self, lam: torch.Tensor) -> torch.Tensor:
        edges, masses = self.edges.to(lam.device), self.masses.to(lam.device)
        k = (torch.searchsorted(edges, lam.double(), right=True) - 1).clamp(0, len(masses) - 1)
        binned = masses[k] / (edges[k + 1] - edges[k])
        return self.share * self.base.density(lam).double() + (1 - self.share) * binned


def fit_proposal(base, lam: torch.Tensor, integrand: torch.Tensor, bins: int = PILOT_BINS,
                 share: float = DEFENSIVE_SHARE) -> FittedProposal:
    """The variance-reduced proposal from a pilot batch drawn from ``base``.

    ``integrand`` is g_b = Σ_i w(KL+IS) per sequence at its λ_b (not divided by
    the proposal).  The proposal minimising the variance of g/r is r ∝ √E[g² | λ];
    each bin (of equal mass under ``base``, so each gets its share of the pilot
    draws) gets mass ∝ its root-mean-square g times its width.  A bin no pilot draw
    fell into gets the largest root-mean-square: a tail the pilot missed is not
    starved.  The defensive share keeps every weight within 1/(share·base).
    """
    edges = base.sample(torch.linspace(0, 1, bins + 1, dtype=torch.float64)).double().cpu()
    edges[0], edges[-1] = base.lo, base.hi
    lam, g = lam.double().cpu(), integrand.double().cpu()
    k = (torch.searchsorted(edges, lam, right=True) - 1).clamp(0, bins - 1)
    count = torch.zeros(bins, dtype=torch.float64).index_add_(0, k, torch.ones_like(g))
    square = torch.zeros(bins, dtype=torch.float64).index_add_(0, k, g * g)
    rms = torch.where(count > 0, (square / count.clamp_min(1)).sqrt(), torch.nan)
    top = rms.nan_to_num(0).max()
    rms = torch.where(count > 0, rms, top)
    masses = rms * (edges[1:] - edges[:-1])
    if not bool(masses.sum() > 0):  # a pilot that scored nothing: nothing to adapt to
        masses = edges[1:] - edges[:-1]
    return FittedProposal(base, edges, masses, share)


# -- the estimator ------------------------------------------------------------------
@attrs.frozen
class ValBatch:
    """What an evaluation hands the model: one ``NoiseBatch`` per model call in
    ``passes`` (here: the sequences at their drawn λ, then at λ_max for the decoder),
    with the λ per sequence [B] float64 and the ``proposal`` they were drawn from
    (both None for an objective without noise)."""

    passes: tuple
    log_snr: torch.Tensor | None = None
    proposal: object = None


@attrs.frozen
class SequenceBound:
    """Per-sequence terms, float64 [B], nats summed over the sequence's scored tokens.

    ``total`` is each sequence's unbiased estimate of its bound (prior + integral +
    reconstruction); ``n_tokens`` the tokens it scores; ``integrand`` the λ-integral's
    g_b before dividing by the proposal density (what ``fit_proposal`` reads; None for
    an exact objective); ``objective`` the trained objective's own estimate, when the
    bound's passes already hold it (None: ``evaluate`` scores the objective's batch)."""

    total: torch.Tensor
    n_tokens: torch.Tensor
    integrand: torch.Tensor | None = None
    prior: torch.Tensor | None = None
    reconstruction: torch.Tensor | None = None
    objective: torch.Tensor | None = None


class ProcessBound:
    """The process NELBO of a ``NoiseProcess``, one Monte Carlo draw per sequence."""

    def __init__(self, process) -> None:
        self.process = process
        self.proposal = ScheduleProposal(process.schedule, process.log_snr_min,
                                         process.log_snr_max)
        self._prior_kl = None
        # without per-token-λ and prompt rows the training batch is this bound's noisy pass
        # in law (one λ per sequence from the schedule, nothing clean), and the loss's NELBO
        # its integral: the objective's own figure then needs no forward pass of its own
        kind = type(process)
        self.integral_is_objective = (
            process.per_token_fraction == 0 and process.prompt_fraction == 0
            and kind.noise_batch is NoiseProcess.noise_batch and kind.loss is NoiseProcess.loss)

    def batch(self, x: torch.Tensor, generator=None, proposal=None) -> ValBatch:
        """λ_b ~ ``proposal`` (default: the run's schedule) shared by sequence b's tokens,
        z ~ q_λb(·|x), and a second draw z' ~ q_λmax(·|x) for the decoder."""
        proc, proposal = self.process, proposal or self.proposal
        B, T = x.shape
        u = stratified_uniform(B, generator, x.device, proc.stratified)
        lam = proposal.sample(u).double()
        density = proposal.density(lam).double()
        lam_tok = lam[:, None].expand(B, T)
        hi = torch.full((B, T), proc.log_snr_max, dtype=torch.float64, device=x.device)
        none = torch.zeros(B, dtype=torch.long, device=x.device)
        every = torch.ones_like(x, dtype=torch.bool)
        noisy = NoiseBatch(z=proc.corrupt(x, lam_tok, generator), log_snr=lam_tok.float(),
                           loss_mask=every, prefix_len=none,
                           proposal=density[:, None].expand(B, T).float())
        clean = NoiseBatch(z=proc.corrupt(x, hi, generator), log_snr=hi.float(), loss_mask=every,
                           prefix_len=none, proposal=torch.ones_like(hi).float())
        return ValBatch(passes=(noisy, clean), log_snr=lam, proposal=proposal)

    def terms(self, logits, batch: ValBatch, x: torch.Tensor) -> SequenceBound:
        """The three terms per sequence, from the logits of ``batch.passes`` in order."""
        noisy_logits, clean_logits = logits
        noisy, clean = batch.passes
        lam = batch.log_snr[:, None].expand(x.shape)
        # float64 λ: the integrand in float64, the [B, T, V] logits as they are (a mixture
        # process converts them chunk by chunk)
        integrand = self.process.nelbo_integrand(at_least_fp32(noisy_logits), noisy.z, x,
                                                 lam).double().sum(1)
        density = batch.proposal.density(batch.log_snr).double().clamp_min(MIN_PROPOSAL)
        prior = self.prior_kl(x).sum(1)
        reconstruction = self.reconstruction(clean_logits, clean.z, x).sum(1)
        integral = integrand / density
        n = torch.full_like(integral, x.shape[1])
        return SequenceBound(total=prior + integral + reconstruction, n_tokens=n,
                             integrand=integrand, prior=prior, reconstruction=reconstruction,
                             objective=integral if self.integral_is_objective else None)

    def prior_kl(self, x: torch.Tensor) -> torch.Tensor:
        """KL(q_λmin(·|x_i) ‖ p_prior) per token, from a table over the vocabulary.

        With a = σ(λmin), b = σ(−λmin), p = a·ū + b·π: for z ≠ v, q(z|v) = b·π(z), so
        KL_v = S − b·π(v)·log(b·π(v)/p(v)) + (a + b·π(v))·log((a + b·π(v))/p(v)) with
        S = Σ_z b·π(z)·log(b·π(z)/p(z)): O(V) for the whole table, not O(V²).
        """
        if self._prior_kl is None:
            self._prior_kl = self._prior_table()
        return self._prior_kl.to(x.device)[x]

    def _prior_table(self) -> torch.Tensor:
        proc = self.process
        lam = torch.tensor(proc.log_snr_min, dtype=torch.float64)
        pi = proc.mixing(lam).double().reshape(-1)
        a, b = torch.sigmoid(lam), torch.sigmoid(-lam)
        real = torch.ones_like(pi, dtype=torch.bool)
        real[proc.mask_id] = False
        p = a * real.double() / real.sum() + b * pi

        def plogp(q):  # q·log(q/p), 0 where q = 0
            return torch.where(q > 0, q * (torch.log(q.clamp_min(1e-300)) - torch.log(p)), 0.0)

        kept = a + b * pi
        table = plogp(b * pi).sum() - plogp(b * pi) + plogp(kept)
        return torch.where(real, table, torch.zeros_like(table))

    def reconstruction(self, logits: torch.Tensor, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """−log p(x_i|z) per token under the Bayes decoder at λ_max (module docstring)."""
        proc = self.process
        lam = torch.full(x.shape, proc.log_snr_max, dtype=torch.float64, device=x.device)
        la, lb = log_sigmoid(lam), log_sigmoid(-lam)
        log_pi_z = proc.log_mixing_at(z, lam).double()
        logp = proc.denoised_log_probs(at_least_fp32(logits))
        log_xhat_x = logp.gather(-1, x.unsqueeze(-1)).squeeze(-1).double()
        log_xhat_z = logp.gather(-1, z.unsqueeze(-1)).squeeze(-1).double()
        log_q_x = torch.logaddexp(torch.where(z == x, la, -torch.inf), lb + log_pi_z)
        log_q_hat = torch.logaddexp(la + log_xhat_z, lb + log_pi_z)
        return log_q_hat - log_q_x - log_xhat_x
