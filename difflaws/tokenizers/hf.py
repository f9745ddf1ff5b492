"""A Hugging Face ``tokenizers`` tokenizer, loaded from a ``tokenizer.json`` file or object."""

from __future__ import annotations

from pathlib import Path

from difflaws.errors import UserError
from difflaws.tokenizers.base import Tokenizer, require_mask


def import_tokenizers():
    try:
        import tokenizers
    except ImportError:
        raise UserError("this tokenizer needs the `tokenizers` package: "
                        "pip install 'difflaws[bpe]'") from None
    return tokenizers


class HFTokenizer(Tokenizer):
    """Wraps a ``tokenizers.Tokenizer``; the model vocabulary may be padded above its size."""

    name = "hf"

    def __init__(self, tok, mask_token: str, eos_token: str, vocab_size: int | None = None,
                 where: str = "tokenizer"):
        self.tok = tok
        self.mask_id = require_mask(tok.token_to_id(mask_token), where, mask_token)
        eos = tok.token_to_id(eos_token)
        if eos is None:
            raise UserError(f"{where}: the tokenizer has no end-of-document token {eos_token!r}; "
                            "set tokenizer.eos_token to one of its special tokens")
        self.eos_id = int(eos)
        actual = tok.get_vocab_size(with_added_tokens=True)
        if vocab_size is not None and vocab_size < actual:
            raise UserError(f"{where}: vocab_size = {vocab_size} is below the tokenizer's "
                            f"{actual} tokens; raise it or leave it unset")
        self.vocab_size = int(vocab_size or actual)

    @classmethod
    def from_file(cls, path, mask_token, eos_token, vocab_size=None):
        tokenizers = import_tokenizers()
        path = Path(path)
        if not path.is_file():
            raise UserError(f"tokenizer.path: tokenizer file {path} not found; pass the path "
                            "of a Hugging Face tokenizer.json")
        try:
            tok = tokenizers.Tokenizer.from_file(str(path))
        except Exception as exc:
            raise UserError(f"tokenizer.path: cannot read {path} as a tokenizer.json: "
                            f"{exc}") from None
        return cls(tok, mask_token, eos_token, vocab_size, where=f"tokenizer {path}")

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts):
        return [e.ids for e in self.tok.encode_batch(list(texts), add_special_tokens=False)]

    def decode(self, ids) -> str:
        return self.tok.decode([int(i) for i in ids], skip_special_tokens=False)
