"""A synthetic source of Zipf-distributed facts, built so that model size matters.

A fact is a key of ``key_len`` symbols followed by its value, one symbol.  The
source holds ``n_facts`` distinct random keys, each with a random value, and
ranks them: fact r (r = 1, 2, ...) is drawn with probability p_r ∝ r^(−zipf).
A document is ``facts_per_doc`` independent draws followed by an EOS.

Why it scales.  Nothing about a value can be inferred from anything but its
own key, so a model must store each fact it knows, and one with more
parameters stores more.  A model that knows the most frequent M facts pays
about ln(n_symbols) on every value of the others, whose total probability
Σ_{r>M} p_r falls as a power of M; the facts a run has seen often enough to
learn grow as a power of the tokens it has read.  That is the two-term
structure L(N, D) = E + A/N^α + B/D^β of the Chinchilla law, in a world small
enough to train in CPU minutes (the quanta picture of Michaud et al., 2023).

The floor.  Keys are the only randomness, so a document carries exactly
``facts_per_doc`` · H(p) nats, H(p) = −Σ p_r ln p_r, and the per-token floor of
a stream of documents is that over the document's length (``entropy_rate``).
With ``train.seq_len`` equal to the document length every window is one
document and no model can go below it.
"""

from __future__ import annotations

import numpy as np

from difflaws.data.source import SyntheticSource


class FactTable:
    """The ranked facts: ``keys`` [n_facts, key_len] symbols, ``values`` [n_facts], and
    their draw probabilities ``p`` [n_facts], most frequent first."""

    def __init__(self, n_facts: int, n_symbols: int, key_len: int, zipf: float, seed: int):
        rng = np.random.default_rng([seed, 0x66616374])
        codes = rng.choice(n_symbols ** key_len, size=n_facts, replace=False)
        powers = n_symbols ** np.arange(key_len - 1, -1, -1)
        self.keys = (codes[:, None] // powers) % n_symbols
        self.values = rng.integers(0, n_symbols, size=n_facts)
        weights = np.arange(1, n_facts + 1, dtype=np.float64) ** -zipf
        self.p = weights / weights.sum()

    def entropy(self) -> float:
        return float(-(self.p * np.log(self.p)).sum())


class FactsSource(SyntheticSource):
    name = "facts"

    def __init__(self, n_facts: int, n_symbols: int, key_len: int, zipf: float,
                 facts_per_doc: int, seed: int, train_tokens: int, val_tokens: int):
        self.n_facts, self.n_symbols, self.key_len, self.zipf = n_facts, n_symbols, key_len, zipf
        self.facts_per_doc, self.seed = facts_per_doc, seed
        self.train_tokens, self.val_tokens = train_tokens, val_tokens
        self.table = FactTable(n_facts, n_symbols, key_len, zipf, seed)
        self.doc_tokens = facts_per_doc * (key_len + 1) + 1
        self.entropy_rate = facts_per_doc * self.table.entropy() / self.doc_tokens

    def fingerprint(self) -> str:
        return f"facts|{self.n_facts}|{self.n_symbols}|{self.key_len}|{self.zipf}|" \
               f"{self.facts_per_doc}|{self.seed}|{self.train_tokens}|{self.val_tokens}"

    def metric_notes(self) -> dict:
        return {"entropy_rate": "entropy per token of a document (floor, nats/token)"}

    def generate(self, n_tokens: int, stream_seed: int, eos: int) -> np.ndarray:
        n_docs = max(1, -(-n_tokens // self.doc_tokens))
        rng = np.random.default_rng([self.seed, stream_seed])
        ranks = rng.choice(self.n_facts, size=(n_docs, self.facts_per_doc), p=self.table.p)
        facts = np.concatenate([self.table.keys[ranks], self.table.values[ranks][..., None]],
                               axis=-1).reshape(n_docs, -1)
        # keys, values and the EOS column are all int64, the stream's dtype: no copy needed
        return np.concatenate([facts, np.full((n_docs, 1), eos)], axis=1).reshape(-1)
