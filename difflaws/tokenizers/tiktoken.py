"""A tiktoken encoding read from a local ``.tiktoken`` file, with a mask token appended."""

from __future__ import annotations

import base64
from pathlib import Path

from difflaws.errors import UserError
from difflaws.tokenizers.base import Tokenizer

EOS_TEXT = "<|endoftext|>"


class TiktokenTokenizer(Tokenizer):
    """Ids 0..n-1 are the file's ranks; then ``<|endoftext|>`` and ``<|mask|>``."""

    name = "tiktoken"

    def __init__(self, path, pattern: str):
        try:
            import tiktoken
        except ImportError:
            raise UserError("tokenizer kind 'tiktoken' needs the `tiktoken` package: "
                            "pip install 'difflaws[tiktoken]'") from None
        path = Path(path)
        if not path.is_file():
            raise UserError(f"tokenizer.path: encoding file {path} not found; tiktoken "
                            "encodings are used offline, from a local .tiktoken file")
        ranks = {}
        for line in path.read_bytes().splitlines():
            if line.strip():
                token, rank = line.split()
                ranks[base64.b64decode(token)] = int(rank)
        n = len(ranks)
        self.eos_id, self.mask_id = n, n + 1
        self.vocab_size = n + 2
        self.enc = tiktoken.Encoding(name=path.stem, pat_str=pattern, mergeable_ranks=ranks,
                                     special_tokens={EOS_TEXT: n, "<|mask|>": n + 1})

    def encode(self, text: str) -> list[int]:
        return self.enc.encode_ordinary(text)

    def decode(self, ids) -> str:
        return self.enc.decode([int(i) for i in ids])
