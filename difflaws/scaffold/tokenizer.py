"""Templates of a ``tokenizer`` kind: a ``Tokenizer`` with a mask id and an EOS id."""

SUMMARY = "UTF-8 bytes, optionally lower-cased, plus <|eos|> and <|mask|>; needs no file"

USAGE = '''
```toml
[tokenizer]
kind = "${kind}"
lowercase = false
```
'''

PLUGIN = '''
"""The ``${kind}`` tokenizer kind: its config and registration.

The ``difflaws`` entry point names this module and difflaws imports it whenever it
starts, so it stays light: the tokenizer loads inside ``build``.
"""

from __future__ import annotations

import attrs

from difflaws import hookimpl
from difflaws.interfaces import TokenizerConfig, key


@attrs.frozen(kw_only=True)
class ${Kind}Config(TokenizerConfig):
    """${summary}.

    Ids 0-255 are the bytes, then EOS and the mask token, as in the built-in
    ``bytes`` tokenizer, which the component subclasses.
    """

    lowercase: bool = key(False, doc="lower-case text before encoding it")

    @property
    def vocab_size(self) -> int:
        """Lets `difflaws validate` and `difflaws plan` size a model without building this."""
        from difflaws.tokenizers.bytes import VOCAB_SIZE

        return VOCAB_SIZE

    def build(self, source=None, cache_dir=None, **context):
        from ${module}.tokenizer import ${Kind}Tokenizer

        tokenizer = ${Kind}Tokenizer(lowercase=self.lowercase)
        tokenizer.calibrate_on(source)  # bytes per token, on the validation text
        return tokenizer


@hookimpl
def difflaws_register_kinds(register):
    register("tokenizer", "${kind}", ${Kind}Config)
'''

COMPONENT = "tokenizer.py"

SOURCE = '''
"""The ``${kind}`` tokenizer: the built-in byte tokenizer, optionally lower-casing first.

A tokenizer has ``vocab_size``, ``mask_id``, ``eos_id``, ``encode``/``decode`` and
``bytes_per_token`` (text bytes per token, which converts nats/token to bits per
byte; NaN until ``calibrate`` measures it).  ``describe()`` keys the token-stream
cache, so it names every setting that changes the ids.
"""

from __future__ import annotations

import math

from difflaws.tokenizers.base import Tokenizer
from difflaws.tokenizers.bytes import ByteTokenizer


class ${Kind}Tokenizer(ByteTokenizer):
    name = "${kind}"

    def __init__(self, lowercase: bool = False):
        self.lowercase = lowercase
        # lower-casing can change a character's UTF-8 length: measure rather than assume 1
        self.bytes_per_token = math.nan if lowercase else 1.0

    def _prepare(self, text: str) -> str:
        return text.lower() if self.lowercase else text

    def encode(self, text: str) -> list[int]:
        return super().encode(self._prepare(text))

    def encode_array(self, text: str):
        return super().encode_array(self._prepare(text))

    def calibrate(self, texts) -> float:
        return Tokenizer.calibrate(self, texts) if self.lowercase else super().calibrate(texts)

    def describe(self) -> dict:
        return {**super().describe(), "lowercase": self.lowercase}
'''

TEST_IMPORTS = '''
import pytest
'''

TESTS = '''
TEXT = "Hello, Wörld! ΣΑΣ 42\\n"


@pytest.mark.parametrize("lowercase", [False, True])
def test_decode_inverts_encode(host, lowercase):
    config = host.structure(CATEGORY, {"kind": KIND, "lowercase": lowercase})
    tokenizer = config.build()
    ids = tokenizer.encode(TEXT)
    assert tokenizer.decode(ids) == (TEXT.lower() if lowercase else TEXT)
    assert [int(i) for i in tokenizer.encode_batch([TEXT])[0]] == ids
    assert tokenizer.mask_id not in ids and tokenizer.eos_id not in ids


def test_ids_fit_the_vocabulary_the_config_reports(host):
    config = host.structure(CATEGORY, {"kind": KIND})
    tokenizer = config.build()
    assert config.vocab_size == tokenizer.vocab_size
    ids = tokenizer.encode(TEXT)
    assert len({*ids, tokenizer.mask_id, tokenizer.eos_id}) == len(set(ids)) + 2
    assert max(ids + [tokenizer.mask_id, tokenizer.eos_id]) < tokenizer.vocab_size
    assert tokenizer.bytes_per_token == 1.0


def test_calibration_measures_bytes_per_token_when_lowercasing(host):
    tokenizer = host.structure(CATEGORY, {"kind": KIND, "lowercase": True}).build()
    text = "İ" * 10  # U+0130 is 2 bytes; lower-cased it is "i̇", 3 bytes
    assert tokenizer.calibrate([text]) == pytest.approx(20 / 30)
'''
