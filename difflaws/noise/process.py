"""The generic noise process: everything derived from the mixing distribution π_λ.

Forward marginal (docs/theory.md §2.1), with λ = log-SNR and α = σ(λ):

    q_λ(z|x) = σ(λ)·1[z=x] + σ(−λ)·π_λ(z).

A process supplies ``mixing(λ)`` (π_λ as a dense [..., V] tensor) and
nothing else; ∂_λπ_λ comes from forward-mode autograd.  From these the
class computes the marginal, corruption, the ELBO weight, the KL+IS
integrand, the training batch and loss, and the ancestral reverse step.
This dense path costs O(V) memory per token; subclasses with structure
(``MaskUniformProcess``) override pieces with closed forms, and the tests
check every override against this class.

The data x must never contain the mask id.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from difflaws.noise import categorical
from difflaws.noise.batch import LossOutput, NoiseBatch
from difflaws.noise.logsig import log_sigmoid
from difflaws.noise.schedule import stratified_uniform

TRAIN_WEIGHT_CLIP = 1e3  # docs/theory.md §2.5: the paper trains on clip(w, 0, 1e3)
MAX_LOG_RATIO = 60.0  # IS term: r is capped at e^60 so a hopeless prediction stays finite
MIN_PROPOSAL = 1e-12


def compute_dtype(*tensors) -> torch.dtype:
    """float64 if any input is float64, else float32 (never lower: the loss is fp32)."""
    if any(torch.is_tensor(t) and t.dtype == torch.float64 for t in tensors):
        return torch.float64
    return torch.float32


def as_log_snr(log_snr, like: torch.Tensor, dtype=None) -> torch.Tensor:
    """λ as a tensor broadcast to ``like``'s shape."""
    dtype = dtype or compute_dtype(log_snr)
    lam = torch.as_tensor(log_snr, dtype=dtype, device=like.device)
    return torch.broadcast_tensors(lam, like)[0]


class NoiseProcess:
    """q_λ(z|x) = σ(λ)δ_x + σ(−λ)π_λ over V tokens, defined by π_λ alone."""

    def __init__(self, vocab_size: int, mask_id: int, schedule=None, log_snr_min: float = -9.0,
                 log_snr_max: float = 9.0, weighting: str = "paper",
                 per_token_fraction: float = 0.2, prompt_fraction: float = 0.0,
                 stratified: bool = True) -> None:
        if not 0 <= mask_id < vocab_size:
            raise ValueError(f"mask_id {mask_id} outside the vocabulary of {vocab_size}")
        if schedule is None:
            from difflaws.plugins import default_host

            schedule = default_host().default_config("schedule").build()
        self.vocab_size, self.mask_id = vocab_size, mask_id
        self.schedule = schedule
        self.log_snr_min, self.log_snr_max = float(log_snr_min), float(log_snr_max)
        self.weighting = weighting
        self.per_token_fraction = per_token_fraction
        self.prompt_fraction = prompt_fraction
        self.stratified = stratified

    # -- what a process supplies ---------------------------------------
    def mixing(self, log_snr: torch.Tensor) -> torch.Tensor:
        """π_λ as probabilities [..., V] for λ of shape [...]."""
        raise NotImplementedError

    def mixing_derivative(self, log_snr: torch.Tensor) -> torch.Tensor:
        """∂_λπ_λ [..., V]; π_λ(v) depends on its own λ only, so one JVP gives all of it."""
        lam = log_snr.detach().clone()  # an expanded view can't carry a tangent
        _, tangent = torch.func.jvp(self.mixing, (lam,), (torch.ones_like(lam),))
        return tangent

    def mixing_with_derivative(self, log_snr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(π_λ, ∂_λπ_λ), each [..., V]: one JVP gives both, unless ∂π has its own closed form.

        ``difflaws.noise.admissible.check`` reads π − ∂π ≥ 0 (docs/theory.md §2.7) from this.
        """
        if type(self).mixing_derivative is not NoiseProcess.mixing_derivative:
            return self.mixing(log_snr), self.mixing_derivative(log_snr)
        lam = log_snr.detach().clone()
        return torch.func.jvp(self.mixing, (lam,), (torch.ones_like(lam),))

    def mixing_classes(self, log_snr: torch.Tensor):
        """Optional: π_λ and ∂_λπ_λ by classes of tokens that share both at every λ, or None.

        Returns (π [..., K], ∂π [..., K], tokens [K], sizes [K]): one representative token
        id per class and the number of tokens in it (the sizes sum to V).
        ``difflaws.noise.admissible.check`` then reads K values per λ instead of V.
        The default, None, means "no such structure": the check reads all V tokens.
        """
        return None

    def check_admissible(self, **options):
        """Check numerically that π_λ − ∂_λπ_λ ≥ 0 on [λ_min, λ_max]: the forward chain has
        non-negative rates and w_λ ≥ 0 (docs/theory.md §2.7).  Raises ``UserError`` if not;
        returns the worst point.  ``options`` go to ``difflaws.noise.admissible.check``."""
        from difflaws.noise.admissible import check

        return check(self, **options)

    # -- pieces a structured process may override ------------------------
    def log_mixing_at(self, z: torch.Tensor, log_snr: torch.Tensor) -> torch.Tensor:
        """log π_λ(z) for tokens z."""
        pi = self.mixing(log_snr)
        return torch.log(pi.gather(-1, z.unsqueeze(-1)).squeeze(-1))

    def sample_mixing(self, log_snr: torch.Tensor, generator=None) -> torch.Tensor:
        """z ~ π_λ, one token per entry of λ."""
        return categorical.draw(self.mixing(log_snr), generator)

    def marginal(self, x: torch.Tensor, log_snr) -> torch.Tensor:
        """q_λ(·|x) as probabilities [..., V]."""
        lam = as_log_snr(log_snr, x)
        x = torch.broadcast_to(x, lam.shape)
        keep = F.one_hot(x, self.vocab_size).to(lam.dtype)
        return torch.sigmoid(lam)[..., None] * keep + torch.sigmoid(-lam)[..., None] * self.mixing(lam)

    def corrupt(self, x: torch.Tensor, log_snr, generator=None) -> torch.Tensor:
        """z ~ q_λ(·|x): keep x with probability σ(λ), else draw from π_λ."""
        lam = as_log_snr(log_snr, x)
        x = torch.broadcast_to(x, lam.shape)
        keep = categorical.uniform(lam.shape, generator, x.device) < torch.sigmoid(lam.double())
        return torch.where(keep, x, self.sample_mixing(lam, generator))

    def elbo_weight(self, z: torch.Tensor, x: torch.Tensor, log_snr) -> torch.Tensor:
        """w_λ(z,x) = (π_λ(z) − ∂_λπ_λ(z)) / (π_λ(z) + e^λ·1[z=x])  (docs/theory.md §2.3)."""
        lam = as_log_snr(log_snr, z)
        idx = torch.broadcast_to(z, lam.shape).unsqueeze(-1)
        pi = self.mixing(lam).gather(-1, idx).squeeze(-1)
        dpi = self.mixing_derivative(lam).gather(-1, idx).squeeze(-1)
        den = pi + torch.exp(lam) * (z == x)
        return torch.where(den > 0, (pi - dpi) / den.clamp_min(1e-300), torch.zeros_like(den))

    def divergence(self, logits: torch.Tensor, z: torch.Tensor, x: torch.Tensor, log_snr) -> torch.Tensor:
        """KL(q_λ(·|x) ‖ q_λ(·|x̂)) + IS(q_λ(z|x) ‖ q_λ(z|x̂)) per token, x̂ = softmax(logits) without mask.

        Dense log-space reference implementation: several [tokens, V] tensors.
        """
        dtype = compute_dtype(logits, log_snr)
        lam = as_log_snr(log_snr, z, dtype)
        logp = self.denoised_log_probs(logits.to(dtype))
        # floored log (docs/theory.md §8.2): log 0 = −inf would give logaddexp a NaN gradient
        log_pi = torch.log(self.mixing(lam).clamp_min(torch.finfo(dtype).tiny))
        la, lb = log_sigmoid(lam)[..., None], log_sigmoid(-lam)[..., None]
        log_onehot = torch.log(F.one_hot(torch.broadcast_to(x, lam.shape), self.vocab_size).to(dtype))
        log_qx = torch.logaddexp(la + log_onehot, lb + log_pi)
        log_qhat = torch.logaddexp(la + logp, lb + log_pi)
        qx = log_qx.exp()
        support = qx > 0
        kl = (qx * (torch.where(support, log_qx, 0) - torch.where(support, log_qhat, 0))).sum(-1)
        zi = torch.broadcast_to(z, lam.shape).unsqueeze(-1)
        log_r = (log_qx.gather(-1, zi) - log_qhat.gather(-1, zi)).squeeze(-1)
        log_r = log_r.clamp(max=MAX_LOG_RATIO)
        return kl + torch.expm1(log_r) - log_r

    def nelbo_integrand(self, logits, z, x, log_snr) -> torch.Tensor:
        """Per-token w_λ(z,x)·(KL + IS): integrate over λ (and average over z) for the NELBO."""
        w = self.elbo_weight(z, x, log_snr).to(compute_dtype(logits, log_snr))
        div = self.divergence(logits, z, x, log_snr)
        return torch.where(w != 0, w * div, 0)  # w = 0 marks events whose IS may be infinite

    def denoised_log_probs(self, logits: torch.Tensor) -> torch.Tensor:
        """log x̂ = log_softmax(logits) with the mask logit excluded."""
        logits = logits.clone()
        logits[..., self.mask_id] = float("-inf")
        return torch.log_softmax(logits, -1)

    # -- training ------------------------------------------------------
    def noise_batch(self, x: torch.Tensor, generator=None) -> NoiseBatch:
        """Draw λ (per sequence, or per token for a fraction of rows), a clean prefix, and z."""
        B, T = x.shape
        dev = x.device
        lo, hi = self.log_snr_min, self.log_snr_max
        per_token = torch.rand(B, generator=generator, device=dev) < self.per_token_fraction
        u = stratified_uniform(B, generator, dev, self.stratified)[:, None].expand(B, T).clone()
        if per_token.any():
            rows = torch.stack([stratified_uniform(T, generator, dev, self.stratified)
                                for _ in range(int(per_token.sum()))])
            u[per_token] = rows
        lam = self.schedule.sample(u, lo, hi)
        proposal = self.schedule.density(lam, lo, hi)
        prefix_len = self._prefix_lengths(B, T, generator, dev)
        prefix = torch.arange(T, device=dev)[None, :] < prefix_len[:, None]
        lam = torch.where(prefix, torch.full_like(lam, hi), lam)
        z = torch.where(prefix, x, self.corrupt(x, lam, generator))
        return NoiseBatch(z=z, log_snr=lam.float(), loss_mask=~prefix, prefix_len=prefix_len,
                          proposal=proposal.float())

    def _prefix_lengths(self, B, T, generator, dev) -> torch.Tensor:
        # docs/theory.md §2.4: prefix fraction f = arccos(1 − 2r)/π, so CDF(f) = (1 − cos πf)/2.
        # A chosen row keeps floor(f·(T − 1)) + 1 tokens, as the paper's code does: never an
        # empty prefix, never the whole row (f < 1 for r < 1; the clamp is for T = 1 alone)
        chosen = torch.rand(B, generator=generator, device=dev) < self.prompt_fraction
        r = torch.rand(B, generator=generator, device=dev, dtype=torch.float64)
        frac = torch.arccos(1 - 2 * r) / torch.pi
        length = ((frac * (T - 1)).long() + 1).clamp(max=T - 1)
        return torch.where(chosen, length, torch.zeros_like(length))

    def loss(self, logits: torch.Tensor, batch: NoiseBatch, x: torch.Tensor) -> LossOutput:
        """Mean over loss tokens of the trained objective, and the unbiased NELBO (nats/token)."""
        lam = batch.log_snr
        w = self.elbo_weight(batch.z, x, lam).float()
        elbo_w = w / batch.proposal.float().clamp_min(MIN_PROPOSAL)
        train_w = self.training_weight(batch.z, x, lam, w, elbo_w)
        keep = batch.loss_mask.float()
        div = self.divergence(logits, batch.z, x, lam).float()
        n = int(batch.loss_mask.sum())
        denom = max(n, 1)
        # a zero weight must not meet an infinite divergence: where, not multiply
        loss = torch.where(keep * train_w != 0, keep * train_w * div, 0).sum() / denom
        nelbo = torch.where(keep * elbo_w != 0, keep * elbo_w * div, 0).sum() / denom
        return LossOutput(loss=loss, nelbo=nelbo, n_tokens=n)

    def training_weight(self, z, x, log_snr, w, elbo_w) -> torch.Tensor:
        """ŵ per token, from the ELBO weight w and the unbiased w/p(λ): "paper" clips w,
        "elbo" trains on w/p.  A kind that offers its own ``weighting`` overrides this."""
        if self.weighting == "paper":
            return w.clamp(0, TRAIN_WEIGHT_CLIP)
        return elbo_w

    # -- sampling ------------------------------------------------------
    def prior(self, shape, generator=None, device=None) -> torch.Tensor:
        """Tokens from π at λ_min, where the sampler starts."""
        lam = torch.full(shape, self.log_snr_min, dtype=torch.float64, device=device)
        return self.sample_mixing(lam, generator)

    def reverse_step(self, logits: torch.Tensor, z_t: torch.Tensor, log_snr_t, log_snr_s,
                     generator=None) -> torch.Tensor:
        """Ancestral step λ_t → λ_s > λ_t: z_s ~ p(z_s|z_t) ∝ q_s(z_s|x̂)·q_{t|s}(z_t|z_s).

        q_{t|s}(z_t|z_s) = α_{t|s}1[z_s=z_t] + γ with γ = β_tπ_t(z_t) − α_{t|s}β_sπ_s(z_t)
        constant in z_s, so the posterior is a two-way mixture: keep z_t with weight
        α_{t|s}q_s(z_t|x̂), or draw afresh from q_s(·|x̂) with weight γ.  λ_s = +inf is the
        final, noise-free step.  Everything in float64.
        """
        lam_t = as_log_snr(log_snr_t, z_t, torch.float64)
        lam_s = as_log_snr(log_snr_s, z_t, torch.float64)
        logp = self.denoised_log_probs(logits.double())
        la_t, lb_t = log_sigmoid(lam_t), log_sigmoid(-lam_t)
        la_s, lb_s = log_sigmoid(lam_s), log_sigmoid(-lam_s)
        finite_s = lam_s.clamp(max=1e4)  # π is only ever multiplied by β_s = 0 at λ_s = inf
        log_pi_t = self.log_mixing_at(z_t, lam_t)
        log_pi_s = self.log_mixing_at(z_t, finite_s)
        log_xhat_z = logp.gather(-1, z_t.unsqueeze(-1)).squeeze(-1)
        log_qs_z = torch.logaddexp(la_s + log_xhat_z, lb_s + log_pi_s)
        stay = torch.exp(la_t - la_s + log_qs_z)
        gamma = (torch.exp(lb_t + log_pi_t) - torch.exp(la_t - la_s + lb_s + log_pi_s)).clamp_min(0)
        p_stay = torch.where(stay + gamma > 0, stay / (stay + gamma), torch.ones_like(stay))
        u = categorical.uniform(z_t.shape, generator, z_t.device)
        from_xhat = categorical.uniform(z_t.shape, generator, z_t.device) < la_s.exp()
        fresh = torch.where(from_xhat, categorical.draw(logp.exp(), generator),
                            self.sample_mixing(finite_s, generator))
        return torch.where(u < p_stay, z_t, fresh)
