"""Shared fixtures for the noise tests: kinds, a third-party-style process, quadrature."""

from __future__ import annotations

import numpy as np
import torch

import difflaws.noise as noise
from difflaws.noise import NoiseProcess

V, MASK = 8, 3  # mask in the middle so "id < mask" / "id > mask" paths both run

KINDS = [
    ("masked", {}),
    ("uniform", {}),
    ("hybrid", {"shift": -2.0}),
    ("hybrid", {"shift": 0.0}),
    ("hybrid", {"shift": 2.0, "scale": 0.7}),
    ("hybrid", {"shift": float("inf")}),
    ("hybrid", {"shift": -1000.0}),
    ("gidd", {"p_u": 0.2}),
    ("gidd", {"p_u": 0.1, "gamma": 2.0}),
]
KINDS_AND_TILTED = KINDS + [("tilted", {})]

# an iid token distribution for exact-denoiser tests; the mask id has no mass
P_DATA = torch.tensor([0.3, 0.22, 0.15, 0.0, 0.12, 0.09, 0.07, 0.05], dtype=torch.float64)


def kind_id(item) -> str:
    kind, kw = item
    return kind + "".join(f"-{k}={v}" for k, v in kw.items())


class TiltedMix(NoiseProcess):
    """A process that supplies π_λ only: noise mass s(λ) = ½(1 + tanh(λ/3)) goes half to
    token 0 and half uniformly to the other non-mask tokens, the rest to the mask."""

    def mixing(self, log_snr):
        s = 0.5 * (1 + torch.tanh(log_snr / 3))
        n = self.vocab_size - 1
        pi = (0.5 * s / n)[..., None].expand(*s.shape, self.vocab_size).clone()
        pi[..., 0] = pi[..., 0] + 0.5 * s
        pi[..., self.mask_id] = 1 - s
        return pi


def make(kind, kw, vocab=V, mask=MASK):
    if kind == "tilted":
        return TiltedMix(vocab, mask)
    return noise.build(kind, vocab, mask, **kw)


def clean_tokens(shape, generator) -> torch.Tensor:
    """Uniform data tokens that are never the mask id."""
    x = torch.randint(0, V - 1, shape, generator=generator)
    return x + (x >= MASK).long()


def gauss_legendre(lo: float, hi: float, pieces: int = 300, order: int = 10):
    """Composite Gauss-Legendre nodes and weights on [lo, hi] (float64 tensors)."""
    xg, wg = np.polynomial.legendre.leggauss(order)
    edges = np.linspace(lo, hi, pieces + 1)
    mid, half = (edges[:-1] + edges[1:]) / 2, (edges[1:] - edges[:-1]) / 2
    nodes = (mid[:, None] + half[:, None] * xg[None]).ravel()
    weights = (half[:, None] * wg[None]).ravel()
    return torch.tensor(nodes), torch.tensor(weights)


def per_token_nelbo(proc, model_logits_fn, x_tok, lo, hi, pieces=100):
    """Exact ∫ E_z[w(KL+IS)] dλ for a denoiser that sees one token: enumerate z, quadrature in λ."""
    lam, wl = gauss_legendre(lo, hi, pieces)
    L = lam.shape[0]
    z = torch.arange(V)[None, :].expand(L, V)
    x = torch.full((L, V), x_tok)
    lam2 = lam[:, None].expand(L, V)
    q = proc.marginal(torch.full((L,), x_tok), lam)
    f = torch.where(q > 0, proc.nelbo_integrand(model_logits_fn(z, lam2), z, x, lam2), 0)
    return ((q * f).sum(1) * wl).sum().item()
