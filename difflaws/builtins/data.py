"""Built-in data sources: stdlib (embedded), text, tokens, hf, markov."""

from __future__ import annotations

import attrs
from attrs.validators import ge, gt, instance_of, le, min_len

from difflaws import hookimpl

VAL = [ge(0.0), le(0.5)]


@attrs.frozen(kw_only=True)
class StdlibDataConfig:
    """The Python standard library's .py sources: an offline corpus every install has."""

    max_bytes: int = attrs.field(default=0, validator=ge(0))  # 0: all of it (~11 MB)
    val_fraction: float = attrs.field(default=0.05, validator=VAL)

    def build(self, **context):
        from difflaws.data.stdlib import StdlibSource

        return StdlibSource(self.max_bytes, self.val_fraction)


@attrs.frozen(kw_only=True)
class TextDataConfig:
    """Local text files or globs (.jsonl: one document per line); one document per file."""

    paths: list[str] = attrs.field(validator=min_len(1))
    separator: str = ""  # split files into documents at this string ("" = whole file)
    text_field: str = "text"
    val_fraction: float = attrs.field(default=0.01, validator=VAL)

    def build(self, **context):
        from difflaws.data.text import TextSource

        return TextSource(self.paths, self.separator, self.text_field, self.val_fraction)


@attrs.frozen(kw_only=True)
class TokensDataConfig:
    """Pre-tokenised flat uint16/uint32 .bin file(s) with a JSON sidecar."""

    path: str
    val_path: str = ""  # unset: hold out the file's last val_fraction
    val_fraction: float = attrs.field(default=0.01, validator=VAL)

    def build(self, **context):
        from difflaws.data.tokens import TokensSource

        return TokensSource(self.path, self.val_path, self.val_fraction)


@attrs.frozen(kw_only=True)
class HFDataConfig:
    """A Hugging Face dataset, streamed (needs the datasets package)."""

    dataset: str
    subset: str = ""
    split: str = "train"
    text_field: str = "text"
    max_documents: int = attrs.field(default=100_000, validator=ge(0))  # 0: all
    val_fraction: float = attrs.field(default=0.01, validator=VAL)

    def build(self, **context):
        from difflaws.data.hf import HFSource

        return HFSource(self.dataset, self.subset, self.split, self.text_field,
                        self.max_documents, self.val_fraction)


@attrs.frozen(kw_only=True)
class MarkovDataConfig:
    """Synthetic k-th-order Markov chain with a seeded random table; exact entropy rate."""

    n_symbols: int = attrs.field(default=16, validator=[gt(1), le(65536)])
    order: int = attrs.field(default=1, validator=[gt(0), le(4)])
    concentration: float = attrs.field(default=0.3, validator=gt(0.0))  # Dirichlet α per row
    seed: int = attrs.field(default=0, validator=instance_of(int))
    train_tokens: int = attrs.field(default=2_000_000, validator=gt(0))
    val_tokens: int = attrs.field(default=100_000, validator=gt(0))
    doc_len: int = attrs.field(default=1023, validator=gt(0))

    def build(self, **context):
        from difflaws.data.markov import MarkovSource

        return MarkovSource(self.n_symbols, self.order, self.concentration, self.seed,
                            self.train_tokens, self.val_tokens, self.doc_len)


@hookimpl
def difflaws_register_kinds(register):
    register("data", "stdlib", StdlibDataConfig)
    register("data", "text", TextDataConfig)
    register("data", "tokens", TokensDataConfig)
    register("data", "hf", HFDataConfig)
    register("data", "markov", MarkovDataConfig)
