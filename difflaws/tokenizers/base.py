"""What every tokenizer offers the trainer, the data packer and the samplers."""

from __future__ import annotations

import math

from difflaws.errors import UserError

CALIBRATION_BYTES = 2_000_000  # of validation text: plenty for a stable bytes/token ratio


class Tokenizer:
    """Base class: subclasses set ``vocab_size``, ``mask_id``, ``eos_id`` and implement
    ``encode``/``decode``.

    ``bytes_per_token`` is the UTF-8 bytes a token stands for on average, so a
    NELBO in nats/token converts to bits per byte as ``nelbo / ln 2 / bytes_per_token``.
    Tokenizers whose ratio is not fixed measure it with :meth:`calibrate`.
    """

    name: str = "tokenizer"
    vocab_size: int
    mask_id: int
    eos_id: int
    bytes_per_token: float = math.nan

    def encode(self, text: str) -> list[int]:
        raise NotImplementedError

    def decode(self, ids) -> str:
        raise NotImplementedError

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [self.encode(t) for t in texts]

    def calibrate(self, texts) -> float:
        """Measure bytes per token on sample texts (EOS and mask not counted)."""
        n_bytes = n_tokens = 0
        for text in texts:
            n_bytes += len(text.encode("utf-8"))
            n_tokens += len(self.encode(text))
        if n_tokens:
            self.bytes_per_token = n_bytes / n_tokens
        return self.bytes_per_token

    def calibrate_on(self, source) -> float:
        """:meth:`calibrate` on a data source's validation text, if it has text at all."""
        if source is not None and source.has_text():
            self.calibrate(source.texts("val", limit_bytes=CALIBRATION_BYTES))
        return self.bytes_per_token

    def describe(self) -> dict:
        return {"tokenizer": self.name, "vocab_size": self.vocab_size, "mask_id": self.mask_id,
                "eos_id": self.eos_id, "bytes_per_token": self.bytes_per_token}


def require_mask(mask_id, where: str, token: str) -> int:
    """Masked and hybrid diffusion need a mask token; refuse a tokenizer without one."""
    if mask_id is None:
        raise UserError(f"{where}: the tokenizer has no mask token {token!r}; diffusion needs "
                        "one. Add it as a special token, or set tokenizer.mask_token to the "
                        "name of an existing special token")
    return int(mask_id)
