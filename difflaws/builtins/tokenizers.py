"""Built-in tokenizers: bytes, bpe (trained on the run's corpus), hf, tiktoken."""

from __future__ import annotations

import attrs
from attrs.validators import ge, gt, optional

from difflaws import hookimpl


@attrs.frozen(kw_only=True)
class BytesTokenizerConfig:
    """UTF-8 bytes (256 ids) plus <|eos|> = 256 and <|mask|> = 257; needs no file."""

    @property
    def vocab_size(self) -> int:
        from difflaws.tokenizers.bytes import VOCAB_SIZE

        return VOCAB_SIZE

    def build(self, **context):
        from difflaws.tokenizers.bytes import ByteTokenizer

        return ByteTokenizer()


@attrs.frozen(kw_only=True)
class BPETokenizerConfig:
    """Byte-level BPE trained on the run's own corpus (HF tokenizers), cached per workspace."""

    vocab_size: int = attrs.field(default=4096, validator=gt(260))
    train_bytes: int = attrs.field(default=20_000_000, validator=gt(0))  # corpus text used to train

    def build(self, source=None, cache_dir=None, **context):
        from difflaws.spec.errors import UserError
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
class HFTokenizerConfig:
    """A Hugging Face tokenizer.json file; it must contain a mask token."""

    path: str
    mask_token: str = "<|mask|>"
    eos_token: str = "<|end_of_text|>"
    # the model's vocabulary; unset: the file's size (set it for padded vocabularies
    # or when planning without the file)
    vocab_size: int | None = attrs.field(default=None, validator=optional(gt(0)))

    def build(self, source=None, **context):
        from difflaws.tokenizers.hf import HFTokenizer

        tok = HFTokenizer.from_file(self.path, self.mask_token, self.eos_token, self.vocab_size)
        tok.calibrate_on(source)
        return tok


@attrs.frozen(kw_only=True)
class TiktokenTokenizerConfig:
    """A tiktoken encoding from a local .tiktoken file (needs the tiktoken package)."""

    path: str
    pattern: str = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"""
                    r""" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""")
    vocab_size: int | None = attrs.field(default=None, validator=optional(ge(2)))

    def build(self, source=None, **context):
        from difflaws.tokenizers.tiktoken import TiktokenTokenizer

        tok = TiktokenTokenizer(self.path, self.pattern)
        tok.calibrate_on(source)
        return tok


@hookimpl
def difflaws_register_kinds(register):
    register("tokenizer", "bytes", BytesTokenizerConfig)
    register("tokenizer", "bpe", BPETokenizerConfig)
    register("tokenizer", "hf", HFTokenizerConfig)
    register("tokenizer", "tiktoken", TiktokenTokenizerConfig)
