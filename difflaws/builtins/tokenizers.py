"""Built-in tokenizers: bytes, bpe (trained on the run's corpus), hf, tiktoken."""

from __future__ import annotations

import attrs
from attrs.validators import ge, gt, le, optional

from difflaws import hookimpl
from difflaws.interfaces import TokenizerConfig, key

MAX_VOCAB = 2 ** 32  # token files hold uint32 ids
MAX_BPE_VOCAB = 2 ** 21


@attrs.frozen(kw_only=True)
class BytesTokenizerConfig(TokenizerConfig):
    """UTF-8 bytes (256 ids) plus <|eos|> = 256 and <|mask|> = 257; needs no file."""

    @property
    def vocab_size(self) -> int:
        from difflaws.tokenizers.bytes import VOCAB_SIZE

        return VOCAB_SIZE

    def build(self, **context):
        from difflaws.tokenizers.bytes import ByteTokenizer

        return ByteTokenizer()


@attrs.frozen(kw_only=True)
class BPETokenizerConfig(TokenizerConfig):
    """Byte-level BPE trained on the run's own corpus (HF tokenizers), cached per workspace."""

    vocab_size: int = key(4096, validator=[gt(260), le(MAX_BPE_VOCAB)],
                          doc="vocabulary size to train, special tokens included")
    train_bytes: int = key(20_000_000, validator=[gt(0), le(2 ** 40)],
                           doc="bytes of the training split's text the tokenizer is trained on")

    def build(self, source=None, cache_dir=None, **context):
        from difflaws.errors import UserError
        from difflaws.tokenizers import bpe

        if source is None or cache_dir is None:
            raise UserError("tokenizer kind 'bpe' is trained on the run's corpus; "
                            "build it through `difflaws run`")
        texts = source.texts("train", limit_bytes=self.train_bytes) if source.has_text() else None
        key = f"{source.fingerprint()}|{self.train_bytes}"
        tok = bpe.load_or_train(texts, self.vocab_size, cache_dir, key)
        if tok.bytes_per_token != tok.bytes_per_token:  # nan: measure once, then cache
            tok.calibrate_on(source)
            bpe.save_meta(tok)
        return tok


@attrs.frozen(kw_only=True)
class HFTokenizerConfig(TokenizerConfig):
    """A Hugging Face tokenizer.json file; it must contain a mask token."""

    path: str = key(doc="the tokenizer.json file")
    mask_token: str = key("<|mask|>",
                          doc="the token used as the diffusion mask (must be in the file)")
    eos_token: str = key("<|end_of_text|>", doc="the token that ends each document")
    vocab_size: int | None = key(None, validator=optional([gt(0), le(MAX_VOCAB)]),
                                 doc="the model's vocabulary; unset: the file's (set it for padded "
                                     "vocabularies or to plan without the file)")

    def build(self, source=None, **context):
        from difflaws.tokenizers.hf import HFTokenizer

        tok = HFTokenizer.from_file(self.path, self.mask_token, self.eos_token, self.vocab_size)
        tok.calibrate_on(source)
        return tok


@attrs.frozen(kw_only=True)
class TiktokenTokenizerConfig(TokenizerConfig):
    """A tiktoken encoding from a local .tiktoken file (needs the tiktoken package)."""

    path: str = key(doc="the .tiktoken file (base64 token and rank per line)")
    pattern: str = key(r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"""
                       r""" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
                       doc="the pre-tokenisation regex that splits text before BPE")
    vocab_size: int | None = key(None, validator=optional([ge(2), le(MAX_VOCAB)]),
                                 doc="vocabulary to size and plan with; unset: the file's "
                                     "(ranks + 2)")

    def build(self, source=None, **context):
        from difflaws.tokenizers.tiktoken import TiktokenTokenizer

        tok = TiktokenTokenizer(self.path, self.pattern)
        tok.calibrate_on(source)
        return tok


@hookimpl
def difflaws_register_kinds(register):
    register("tokenizer", "bytes", BytesTokenizerConfig, default=True)
    register("tokenizer", "bpe", BPETokenizerConfig)
    register("tokenizer", "hf", HFTokenizerConfig)
    register("tokenizer", "tiktoken", TiktokenTokenizerConfig)
