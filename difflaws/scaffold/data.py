"""Templates of a ``data`` kind: a ``DataSource`` of text documents."""

SUMMARY = "Synthetic addition problems, eight per document; needs no files"

USAGE = '''
```toml
[data]
kind = "${kind}"
n_documents = 2000
```
'''

PLUGIN = '''
"""The ``${kind}`` data kind: its config and registration.

The ``difflaws`` entry point names this module and difflaws imports it whenever it
starts, so it stays light: the source loads inside ``build``.
"""

from __future__ import annotations

import attrs
from attrs.validators import gt

from difflaws import hookimpl
from difflaws.interfaces import DataConfig, key


@attrs.frozen(kw_only=True)
class ${Kind}Config(DataConfig):
    """${summary}.

    A seeded generator writes the same corpus every time, so runs are reproducible
    and token streams are cached by the source's fingerprint.
    """

    n_documents: int = key(2000, doc="documents in the corpus, train and validation together",
                           validator=gt(0))

    def build(self, **context):
        from ${module}.source import ${Kind}Source

        return ${Kind}Source(self.n_documents)


@hookimpl
def difflaws_register_kinds(register):
    register("data", "${kind}", ${Kind}Config)
'''

COMPONENT = "source.py"

SOURCE = '''
"""The ``${kind}`` source: documents of lines such as ``17 + 25 = 42``.

A text source implements ``fingerprint()`` (a string that changes whenever the
data does: it keys the token-stream cache) and ``documents()`` (``(key, text)``
pairs in a fixed order; the key alone decides whether a document is held out for
validation, with probability ``val_fraction``).  ``difflaws.data.source.DataSource``
does the rest: splitting, tokenising and caching the streams.
"""

from __future__ import annotations

import random

from difflaws.data.source import DataSource

LINES_PER_DOCUMENT = 8
VERSION = 1  # bump when the generator changes, so cached streams are rebuilt


class ${Kind}Source(DataSource):
    name = "${kind}"
    val_fraction = 0.05

    def __init__(self, n_documents: int, seed: int = 0):
        self.n_documents, self.seed = n_documents, seed

    def fingerprint(self) -> str:
        return f"${kind}-v{VERSION}|{self.n_documents}|{self.seed}"

    def documents(self):
        rng = random.Random(self.seed)
        for i in range(self.n_documents):
            lines = []
            for _ in range(LINES_PER_DOCUMENT):
                a, b = rng.randrange(100), rng.randrange(100)
                lines.append(f"{a} + {b} = {a + b}")
            yield f"${kind}-{i:06d}", "\\n".join(lines) + "\\n"
'''

TEST_IMPORTS = '''
import pytest
'''

TEST_DIFFLAWS = '''
from difflaws.tokenizers.bytes import ByteTokenizer
'''

TESTS = '''
def test_documents_are_reproducible_and_correct(host):
    source = host.structure(CATEGORY, {"kind": KIND, "n_documents": 50}).build()
    docs = list(source.documents())
    assert len(docs) == 50 and len({key for key, _ in docs}) == 50
    assert docs == list(source.documents())
    for _, text in docs:
        for line in text.splitlines():
            left, total = line.split(" = ")
            a, b = left.split(" + ")
            assert int(a) + int(b) == int(total)


def test_fingerprint_changes_with_the_data(host):
    def fingerprint(n_documents):
        source = host.structure(CATEGORY, {"kind": KIND, "n_documents": n_documents}).build()
        return source.fingerprint()

    assert fingerprint(50) == fingerprint(50)
    assert fingerprint(50) != fingerprint(60)


def test_both_splits_tokenise_into_streams(host, tmp_path):
    source = host.structure(CATEGORY, {"kind": KIND}).build()
    tokenizer = ByteTokenizer()
    for split in ("train", "val"):
        texts = list(source.texts(split))
        assert texts, f"the {split} split is empty"
        stream = source.stream(split, tokenizer, tmp_path)
        # one token per byte, and one EOS after every document
        assert len(stream) == sum(len(t.encode()) + 1 for t in texts)
        assert int((stream == tokenizer.eos_id).sum()) == len(texts)
'''
