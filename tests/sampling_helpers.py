"""An exact denoiser for a small known joint distribution, and a chi-square check of samples.

For data x over a few positions with known probabilities, the posterior is
p(x | z) ∝ p(x)·∏_j q_{λ_j}(z_j | x_j) (docs/theory.md §2.1), computed here by
enumerating every x, with q from the process's own ``marginal``.

Which per-position prediction makes the reverse step of docs/theory.md §1.5
exact?  The true reverse kernel's marginal at position i is

    p(z_s^i | z_t) ∝ q_{t|s}(z_t^i | z_s^i) · Σ_{x_i} p(x_i | z_t^{−i}) · q_s(z_s^i | x_i),

which is the step's q_s(z_s^i | x̂_i)·q_{t|s}(z_t^i | z_s^i) with x̂_i = p(x_i | z_t^{−i}),
the posterior given every *other* position: position i's own noisy token enters
through q_{t|s} already.  Only the independence of the positions within one step
is then approximate (an O(1/steps) error), and with a single free position even
that vanishes.  Under masked noise a masked z_i says nothing about x_i, so there
x̂_i = E[x_i | z], the usual exact denoiser, and λ cancels out of it.  A call over
the first T < L positions (block-wise generation, where later positions do not
exist yet) conditions on those alone, marginalising the rest.
"""

from __future__ import annotations

import itertools

import scipy.stats
import torch

import difflaws.noise as noise

V, MASK = 4, 2  # three real tokens {0, 1, 3}; the mask id in the middle
REAL = [0, 1, 3]
LENGTH = 3


def joint() -> tuple[torch.Tensor, torch.Tensor]:
    """Every sequence of LENGTH real tokens [K, L] and its probability [K]: neighbours agree
    more often than chance, so the positions are far from independent; none has p = 0."""
    outcomes = torch.tensor(list(itertools.product(REAL, repeat=LENGTH)))
    same = (outcomes[:, 1:] == outcomes[:, :-1]).double().sum(1)
    first = (outcomes[:, 0] == 0).double()
    weight = torch.exp(1.6 * same + 0.8 * first)
    return outcomes, weight / weight.sum()


class ExactDenoiser:
    """logits = log p(x_i | z_{−i}) per position (the mask id gets −inf)."""

    def __init__(self, process, outcomes, probs, reads_log_snr: bool):
        self.process, self.outcomes, self.log_p = process, outcomes, probs.log()
        self.reads_log_snr = reads_log_snr
        self.calls = 0

    def __call__(self, z, log_snr, prefix_len=None, cache=None):
        self.calls += 1
        t = z.shape[1]
        x = self.outcomes[:, :t]  # [K, T]: later positions marginalised out
        q = self.process.marginal(torch.arange(V)[None, None, :], log_snr.double()[..., None])
        lik = q.gather(-1, z[:, :, None, None].expand(*z.shape, V, 1)).squeeze(-1)  # [B, T, x]
        per_position = torch.log(lik)[:, torch.arange(t)[None, :], x]  # [B, K, T]
        others = per_position.sum(-1, keepdim=True) - per_position  # every position but i
        w = torch.softmax(self.log_p[None, :, None] + others, dim=1)  # [B, K, T]
        onehot = torch.nn.functional.one_hot(x, V).double()  # [K, T, V]
        return torch.log(torch.einsum("bkt,ktv->btv", w, onehot))


def exact(kind: str = "masked", **kw):
    process = noise.build(kind, V, MASK, **kw)
    outcomes, probs = joint()
    return process, ExactDenoiser(process, outcomes, probs, reads_log_snr=kind != "masked"), probs


def chi2_pvalue(samples: torch.Tensor, probs: torch.Tensor) -> float:
    """p-value of the chi-square goodness-of-fit of sequences [N, L] to ``joint()``."""
    outcomes, _ = joint()
    match = (samples[:, None, :] == outcomes[None, :, :]).all(-1)  # [N, K]
    assert bool(match.any(-1).all()), "a sample outside the data's sequences"
    counts = match.sum(0).double()
    expected = probs * samples.shape[0]
    stat = float(((counts - expected) ** 2 / expected).sum())
    return float(scipy.stats.chi2.sf(stat, len(probs) - 1))
