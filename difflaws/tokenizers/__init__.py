"""Tokenizers: text ↔ ids, each with a mask id, an EOS id and a bytes-per-token figure."""

from difflaws.tokenizers.base import Tokenizer, require_mask

__all__ = ["Tokenizer", "require_mask"]
