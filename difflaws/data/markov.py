"""A synthetic k-th-order Markov source whose entropy rate is known exactly.

Symbols ``0..n-1`` are used directly as token ids.  Each context (the last k
symbols) has its own next-symbol distribution, drawn from a symmetric
Dirichlet(``concentration``) with the source's seed.  The chain's entropy rate

    H = Σ_c π(c) · H(P(·|c))      (nats/token)

uses the stationary distribution π over contexts, found by power iteration.
It is the floor of any model's per-token loss on the chain's tokens; the
``doc_len``-token documents (each starting from a context drawn from π) add an
EOS every ``doc_len`` tokens, which moves the per-token floor by O(1/doc_len).
"""

from __future__ import annotations

import numba
import numpy as np

from difflaws.data.source import SyntheticSource


def transition_table(n: int, order: int, concentration: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, 0x6D61726B])
    return rng.dirichlet(np.full(n, concentration), size=n ** order)


def stationary(table: np.ndarray, n: int, order: int, tol=1e-14, max_iter=100_000) -> np.ndarray:
    """π over contexts; context index = Σ s_i n^(k-1-i), oldest symbol first."""
    rest = n ** (order - 1)
    pi = np.full(n ** order, 1.0 / n ** order)
    p = table.reshape(n, rest, n)
    for _ in range(max_iter):
        # the next context drops the oldest symbol a and appends s
        nxt = np.einsum("ar,ars->rs", pi.reshape(n, rest), p).reshape(-1)
        if np.abs(nxt - pi).sum() < tol:
            return nxt
        pi = nxt
    return pi


def entropy_rate(table: np.ndarray, n: int, order: int) -> float:
    pi = stationary(table, n, order)
    logp = np.log(np.where(table > 0, table, 1.0))
    return float(-(pi * (table * logp).sum(axis=1)).sum())


@numba.njit(cache=True)
def _walk(cdf, start_ctx, uniforms, n, n_ctx, doc_len, eos, out):
    """Fill ``out`` with documents of ``doc_len`` symbols, each followed by ``eos``."""
    j = 0
    u = 0
    for d in range(len(start_ctx)):
        ctx = start_ctx[d]
        for _ in range(doc_len):
            s = np.searchsorted(cdf[ctx], uniforms[u])
            if s >= n:
                s = n - 1
            u += 1
            out[j] = s
            j += 1
            ctx = (ctx * n + s) % n_ctx
        out[j] = eos
        j += 1


class MarkovSource(SyntheticSource):
    name = "markov"

    def __init__(self, n_symbols: int, order: int, concentration: float, seed: int,
                 train_tokens: int, val_tokens: int, doc_len: int):
        self.n_symbols, self.order = n_symbols, order
        self.concentration, self.seed = concentration, seed
        self.train_tokens, self.val_tokens, self.doc_len = train_tokens, val_tokens, doc_len
        self.table = transition_table(self.n_symbols, order, concentration, seed)
        self.entropy_rate = entropy_rate(self.table, self.n_symbols, order)

    def fingerprint(self) -> str:
        return f"markov|{self.n_symbols}|{self.order}|{self.concentration}|{self.seed}|" \
               f"{self.train_tokens}|{self.val_tokens}|{self.doc_len}"

    def metric_notes(self) -> dict:
        return {"entropy_rate": "entropy rate (floor, nats/token)"}

    def generate(self, n_tokens: int, stream_seed: int, eos: int) -> np.ndarray:
        n_docs = max(1, -(-n_tokens // (self.doc_len + 1)))
        rng = np.random.default_rng([self.seed, stream_seed])
        pi = stationary(self.table, self.n_symbols, self.order)
        start = rng.choice(len(pi), size=n_docs, p=pi / pi.sum()).astype(np.int64)
        uniforms = rng.random(n_docs * self.doc_len)
        cdf = np.cumsum(self.table, axis=1)
        out = np.empty(n_docs * (self.doc_len + 1), dtype=np.int64)
        _walk(cdf, start, uniforms, self.n_symbols, len(pi), self.doc_len, eos, out)
        return out
