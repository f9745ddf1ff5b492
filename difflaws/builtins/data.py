"""Built-in data sources: stdlib (embedded), text, tokens, parquet, hf, markov, facts."""

from __future__ import annotations

import attrs
from attrs.validators import ge, gt, instance_of, le, min_len

from difflaws import hookimpl
from difflaws.errors import FieldError
from difflaws.interfaces import DataConfig, key
from difflaws.spec.types import SEED

VAL = [ge(0.0), le(0.5)]

#: the Markov transition table (float64, n_symbols**(order+1) entries) must fit in this
MARKOV_TABLE_BYTES = 2 ** 30
#: generating a synthetic split (markov, facts) holds ~16 bytes per token (int64 ids and
#: float64 draws or ranks)
SYNTHETIC_BYTES_PER_TOKEN = 16
SYNTHETIC_MAX_TOKENS = 2 ** 30  # 16 GiB to generate


def _bytes(n: float) -> str:
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")
    i = 0
    while n >= 1024 and i < len(units) - 1:
        n, i = n / 1024, i + 1
    return f"{n:.3g} {units[i]}"


def _synthetic_tokens(_, attribute, value):
    limit, per_token = SYNTHETIC_MAX_TOKENS, SYNTHETIC_BYTES_PER_TOKEN
    if value > limit:
        raise FieldError(attribute.name, f"{value:,} tokens would take "
                                         f"{_bytes(value * per_token)} of memory to generate; "
                                         f"the limit is {limit:,} tokens "
                                         f"({_bytes(limit * per_token)}): "
                                         f"lower data.{attribute.name}")


def _paths(_, attribute, value):
    for i, path in enumerate(value):
        if not path.strip():
            raise FieldError(f"{attribute.name}.{i}", "is empty; give a file or glob pattern")


@attrs.frozen(kw_only=True)
class StdlibDataConfig(DataConfig):
    """The Python standard library's .py sources: an offline corpus every install has."""

    max_bytes: int = key(0, validator=ge(0), doc="read at most this many bytes of source; "
                                                 "0: all of it (~11 MB)")
    val_fraction: float = key(0.05, validator=VAL,
                              doc="fraction of the files held out for validation")

    def build(self, **context):
        from difflaws.data.stdlib import StdlibSource

        return StdlibSource(self.max_bytes, self.val_fraction)


@attrs.frozen(kw_only=True)
class TextDataConfig(DataConfig):
    """Local text files or globs (.jsonl: one document per line); one document per file."""

    paths: list[str] = key(validator=[min_len(1), _paths], doc="files or glob patterns to read")
    separator: str = key("", doc='split files into documents at this string; "": one per file')
    text_field: str = key("text", doc="the key that holds each document's text in .jsonl lines")
    val_fraction: float = key(0.01, validator=VAL,
                              doc="fraction of the documents held out for validation")

    def build(self, **context):
        from difflaws.data.text import TextSource

        return TextSource(self.paths, self.separator, self.text_field, self.val_fraction)


@attrs.frozen(kw_only=True)
class TokensDataConfig(DataConfig):
    """Pre-tokenised flat uint16/uint32 .bin file(s) with a JSON sidecar."""

    path: str = key(doc="the training tokens' .bin file (its JSON sidecar lies beside it)")
    val_path: str = key("", doc='a separate validation .bin file; "": hold out the end of path')
    val_fraction: float = key(0.01, validator=VAL,
                              doc="fraction at the end of path held out when val_path is unset")

    def build(self, **context):
        from difflaws.data.tokens import TokensSource

        return TokensSource(self.path, self.val_path, self.val_fraction)


LANES_DOC = ("independent reading streams the batch rows are dealt to (ranks read disjoint "
             "ones when the world size divides it)")


@attrs.frozen(kw_only=True)
class ParquetBucket:
    """One quality bucket of a parquet corpus: its shards and its share of the batches."""

    paths: list[str] = key(validator=[min_len(1), _paths],
                           doc=".parquet shards: files, directories or glob patterns")
    weight: float = key(1.0, validator=gt(0.0),
                        doc="the bucket's share of the training sequences (relative to the sum)")


@attrs.frozen(kw_only=True)
class ParquetDataConfig(DataConfig):
    """Pre-tokenised .parquet shards (a list<int> column), optionally in weighted buckets."""

    paths: list[str] = key(factory=list, validator=_paths,
                           doc="shards: .parquet files, directories or globs (or use buckets)")
    buckets: dict[str, ParquetBucket] = key(
        factory=dict, doc="quality buckets, name → {paths, weight}, mixed by weight")
    column: str = key("tokens", doc="the column holding each row's token ids (a list of ints)")
    val_fraction: float = key(0.01, validator=VAL,
                              doc="fraction of the rows held out for validation (by a hash)")
    val_paths: list[str] = key(factory=list, validator=_paths,
                               doc="separate validation shards (then nothing is held out)")
    val_max_tokens: int = key(1 << 23, validator=gt(0),
                              doc="validation tokens kept in memory (shared by weight)")
    append_eos: bool = key(True, doc="add the tokenizer's EOS after each row "
                                     "(false: the rows end with it already)")
    lanes: int = key(8, validator=gt(0), doc=LANES_DOC)

    def __attrs_post_init__(self):
        if bool(self.paths) == bool(self.buckets):
            raise FieldError("paths", "give either paths (one corpus) or [data.buckets.NAME] "
                                      "tables (a mixture), not both and not neither")

    def build(self, **context):
        from difflaws.data.parquet import ParquetSource

        buckets = {f"data.buckets.{name}": (b.paths, b.weight)
                   for name, b in sorted(self.buckets.items())} or \
            {"data.paths": (self.paths, 1.0)}
        return ParquetSource(buckets, self.column, self.val_fraction, self.val_paths,
                             self.val_max_tokens, self.append_eos, self.lanes)


@attrs.frozen(kw_only=True)
class HFDataConfig(DataConfig):
    """A Hugging Face dataset, streamed (needs the datasets package)."""

    dataset: str = key(doc='the dataset\'s name on the Hub, e.g. "HuggingFaceFW/fineweb"')
    subset: str = key("", doc='the configuration (subset) to load; "": the default one')
    split: str = key("train", doc="the dataset split to stream documents from")
    text_field: str = key("text", doc="the column that holds each document's text")
    max_documents: int = key(100_000, validator=ge(0),
                             doc="cache this many documents; 0: stream them all, resumably")
    val_fraction: float = key(0.01, validator=VAL,
                              doc="fraction of the documents held out for validation")
    val_documents: int = key(100_000, validator=gt(0),
                             doc="streamed: validate on the held-out ones among this many")
    lanes: int = key(8, validator=gt(0), doc=LANES_DOC)

    def build(self, **context):
        from difflaws.data.hf import HFSource

        return HFSource(self.dataset, self.subset, self.split, self.text_field,
                        self.max_documents, self.val_fraction, self.val_documents, self.lanes)


@attrs.frozen(kw_only=True)
class MarkovDataConfig(DataConfig):
    """Synthetic k-th-order Markov chain with a seeded random table; exact entropy rate."""

    n_symbols: int = key(16, validator=[gt(1), le(65536)], doc="alphabet size of the chain")
    order: int = key(1, validator=[gt(0), le(4)],
                     doc="how many previous symbols each step depends on")
    concentration: float = key(0.3, validator=gt(0.0),
                               doc="Dirichlet α of each transition row (lower: more predictable)")
    seed: int = key(0, validator=[instance_of(int), *SEED],
                    doc="seed of the transition table and the walks")
    train_tokens: int = key(2_000_000, validator=[gt(0), _synthetic_tokens],
                            doc="tokens generated for training")
    val_tokens: int = key(100_000, validator=[gt(0), _synthetic_tokens],
                          doc="tokens generated for validation")
    doc_len: int = key(1023, validator=[gt(0), _synthetic_tokens],
                       doc="symbols per document; an EOS follows each")

    def __attrs_post_init__(self):
        entries = self.n_symbols ** (self.order + 1)
        if entries * 8 > MARKOV_TABLE_BYTES:
            raise FieldError("order", f"n_symbols = {self.n_symbols} and order = {self.order} "
                                      f"make a transition table of {self.n_symbols}**"
                                      f"{self.order + 1} = {entries:,} entries "
                                      f"({_bytes(entries * 8)} of memory; the limit is "
                                      f"{_bytes(MARKOV_TABLE_BYTES)}); lower data.n_symbols "
                                      "or data.order")

    def build(self, **context):
        from difflaws.data.markov import MarkovSource

        return MarkovSource(self.n_symbols, self.order, self.concentration, self.seed,
                            self.train_tokens, self.val_tokens, self.doc_len)


@attrs.frozen(kw_only=True)
class FactsDataConfig(DataConfig):
    """Synthetic Zipf-distributed key → value facts: a world where model size matters."""

    n_facts: int = key(4096, validator=gt(0), doc="how many distinct facts the world holds")
    n_symbols: int = key(64, validator=[gt(1), le(65536)],
                         doc="alphabet of keys and values (token ids 0..n_symbols-1)")
    key_len: int = key(2, validator=[gt(0), le(8)], doc="symbols per key")
    zipf: float = key(1.2, validator=gt(0.0),
                      doc="exponent of the facts' frequencies, p_r ∝ r^-zipf")
    facts_per_doc: int = key(10, validator=gt(0), doc="facts per document; an EOS follows")
    seed: int = key(0, validator=[instance_of(int), *SEED],
                    doc="seed of the fact table and the draws")
    train_tokens: int = key(2_000_000, validator=[gt(0), _synthetic_tokens],
                            doc="tokens generated for training")
    val_tokens: int = key(100_000, validator=[gt(0), _synthetic_tokens],
                          doc="tokens generated for validation")

    def __attrs_post_init__(self):
        if self.n_facts > self.n_symbols ** self.key_len:
            raise FieldError("n_facts", f"{self.n_facts:,} facts need as many distinct keys, "
                                        f"but {self.n_symbols} symbols make only "
                                        f"{self.n_symbols ** self.key_len:,} keys of "
                                        f"{self.key_len}; raise data.key_len or data.n_symbols, "
                                        "or lower data.n_facts")
        if self.n_symbols ** self.key_len >= 2 ** 62:
            raise FieldError("key_len", f"{self.n_symbols}**{self.key_len} keys overflow 64-bit "
                                        "key codes; lower data.key_len or data.n_symbols")
        if self.n_facts > SYNTHETIC_MAX_TOKENS:
            raise FieldError("n_facts", f"{self.n_facts:,} facts exceed the limit of "
                                        f"{SYNTHETIC_MAX_TOKENS:,}; lower data.n_facts")

    def build(self, **context):
        from difflaws.data.facts import FactsSource

        return FactsSource(self.n_facts, self.n_symbols, self.key_len, self.zipf,
                           self.facts_per_doc, self.seed, self.train_tokens, self.val_tokens)


@hookimpl
def difflaws_register_kinds(register):
    register("data", "stdlib", StdlibDataConfig, default=True)
    register("data", "text", TextDataConfig)
    register("data", "tokens", TokensDataConfig)
    register("data", "parquet", ParquetDataConfig)
    register("data", "hf", HFDataConfig)
    register("data", "markov", MarkovDataConfig)
    register("data", "facts", FactsDataConfig)
