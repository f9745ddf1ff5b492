"""Keys and values of positions already processed, so generation computes each once.

A cache holds, per layer, [B, H, capacity, hd] buffers filled left to right.
A forward pass over T new positions writes their keys and values at
``length … length+T−1`` in every layer, attends over ``0 … length+T−1`` and
then advances ``length`` by T.  Autoregressive decoding feeds one token per
pass; block-wise generation feeds a finished block at once, and denoises the
block before that through ``peek()``, which attends without advancing.
"""

from __future__ import annotations

import torch


class KVCache:
    def __init__(self, capacity: int):
        self.capacity = capacity
        self.length = 0
        self.layers: list[LayerCache] = []

    def layer(self, index: int) -> "LayerCache":
        while len(self.layers) <= index:
            self.layers.append(LayerCache(self))
        return self.layers[index]

    def advance(self, count: int) -> None:
        self.length += count

    def peek(self) -> "PeekCache":
        """A view for positions that attend to the cache without joining it."""
        return PeekCache(self)


class LayerCache:
    def __init__(self, owner: KVCache):
        self.owner = owner
        self.k = self.v = None

    def update(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store the new positions' k, v [B, H, T, hd]; return every position's so far."""
        start, count = self.owner.length, k.shape[2]
        end = start + count
        if end > self.owner.capacity:
            raise ValueError(f"KV cache of {self.owner.capacity} positions cannot take "
                             f"{count} more after {start}")
        if self.k is None:
            shape = (k.shape[0], k.shape[1], self.owner.capacity, k.shape[3])
            self.k, self.v = k.new_empty(shape), v.new_empty(shape)
        self.k[:, :, start:end], self.v[:, :, start:end] = k, v
        return self.k[:, :, :end], self.v[:, :, :end]


class PeekCache:
    """The cache as seen by positions still being denoised (a block of block-wise generation).

    A forward pass through it writes the new positions' keys and values after ``length``
    and attends over all of them, like the cache itself, but never advances: the next
    pass overwrites those slots.  Once the block is final it is fed through the cache
    itself, once, and becomes context for every later position.
    """

    def __init__(self, owner: KVCache):
        self.owner = owner

    @property
    def capacity(self) -> int:
        return self.owner.capacity

    @property
    def length(self) -> int:
        return self.owner.length

    def layer(self, index: int) -> LayerCache:
        return self.owner.layer(index)

    def advance(self, count: int) -> None:
        pass
