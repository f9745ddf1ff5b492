"""Whether two tokenizers are the same map between ids and text, so ids mean one thing."""

from __future__ import annotations

import hashlib


def fingerprint(tokenizer) -> str:
    """A digest of the special ids and the text of every id: equal for tokenizers that
    encode alike, whatever object or cache built them (a BPE trained on other data differs)."""
    digest = hashlib.sha256()
    digest.update(repr((tokenizer.vocab_size, tokenizer.mask_id, tokenizer.eos_id)).encode())
    for i in range(tokenizer.vocab_size):
        digest.update(tokenizer.decode([i]).encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()


def same_tokenizer(a, b) -> bool:
    return a is b or fingerprint(a) == fingerprint(b)


def describe(tokenizer) -> str:
    return f"{tokenizer.name}, {tokenizer.vocab_size:,} ids"
