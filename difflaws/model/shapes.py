"""Transformer shapes: names such as ``L8-D512-H8`` ↔ (depth, width, heads), and their sizes.

Every count here is analytic, so a 10B spec is sized without building it.
``tests/test_model_shapes.py`` checks each count against a built model.
"""

from __future__ import annotations

import re

import attrs

SHAPE_NAME = re.compile(r"^L(\d+)-D(\d+)(?:-H(\d+))?$")
SWEEP_VOCAB = 131_072  # the paper's tokenizer; only used by docs and tests


def default_head_dim(width: int) -> int:
    """The paper's rule: 64 up to width 1024, 128 above."""
    return 64 if width <= 1024 else 128


@attrs.frozen
class Shape:
    depth: int
    width: int
    head_dim: int
    mlp_ratio: int = 4

    @property
    def heads(self) -> int:
        return self.width // self.head_dim

    @property
    def name(self) -> str:
        return f"L{self.depth}-D{self.width}-H{self.heads}"

    def block_params(self, sink: bool, conditioning: str) -> int:
        """Parameters of one block, exactly as ``difflaws.model.block.Block`` builds them."""
        d, hidden = self.width, self.mlp_ratio * self.width
        attention = 4 * d * d + 2 * d  # q, k, v, o (no biases) + q/k norm gains
        attention += 2 * d if sink else 0  # one key and one value slot per head
        mlp = 2 * d * hidden + hidden + d  # up and down, with biases
        norms = 2 * d
        modulation = 6 * d * d + 6 * d if conditioning == "adaln" else 0
        return attention + mlp + norms + modulation

    def non_embedding_params(self, sink: bool = True, conditioning: str = "none",
                             freq_dim: int = 256) -> int:
        """Exact count of everything but the token embedding and the LM head."""
        total = self.depth * self.block_params(sink, conditioning) + self.width  # + final norm
        if conditioning == "adaln":
            d = self.width
            total += freq_dim * d + d + d * d + d  # λ embedding MLP
            total += 2 * d * d + 2 * d  # final shift/scale modulation
        return total

    def paper_non_embedding_params(self) -> int:
        """The paper's count, P = L(12d² + 14d) + d (docs/theory.md §5; sinks ignored, biases approximate)."""
        d = self.width
        return self.depth * (12 * d * d + 14 * d) + d

    def flops_per_token_M(self, seq_len: int) -> int:
        """Method 1: M = 72·L·d² + 12·L·d·T (forward + backward, embeddings excluded)."""
        return 72 * self.depth * self.width**2 + 12 * self.depth * self.width * seq_len


def parse_shape_name(name: str) -> tuple[int, int, int | None]:
    """``"L8-D512-H8"`` → (depth 8, width 512, heads 8); heads is None when absent."""
    match = SHAPE_NAME.match(name.strip())
    if not match:
        raise ValueError(f"unknown shape name {name!r}; write it as L<depth>-D<width> or "
                         "L<depth>-D<width>-H<heads>, e.g. 'L8-D512' or 'L20-D1536-H12'")
    depth, width, heads = match.groups()
    return int(depth), int(width), (int(heads) if heads else None)
