"""The byte tokenizer: one id per UTF-8 byte, then the special tokens."""

from __future__ import annotations

import numpy as np

from difflaws.tokenizers.base import Tokenizer

N_BYTES = 256
EOS_ID = 256
MASK_ID = 257
VOCAB_SIZE = 258


class ByteTokenizer(Tokenizer):
    name = "bytes"
    vocab_size = VOCAB_SIZE
    mask_id = MASK_ID
    eos_id = EOS_ID
    bytes_per_token = 1.0  # exact: every non-special token is one byte

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def encode_array(self, text: str) -> np.ndarray:
        return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int64)

    def encode_batch(self, texts):
        return [self.encode_array(t) for t in texts]

    def decode(self, ids) -> str:
        ids = [int(i) for i in ids]
        out = bytearray()
        pieces = []
        for i in ids:
            if i < N_BYTES:
                out.append(i)
                continue
            pieces.append(out.decode("utf-8", errors="replace"))
            out = bytearray()
            pieces.append({EOS_ID: "\n<|eos|>\n", MASK_ID: "▒"}.get(i, "�"))
        pieces.append(out.decode("utf-8", errors="replace"))
        return "".join(pieces)

    def calibrate(self, texts) -> float:
        return self.bytes_per_token
