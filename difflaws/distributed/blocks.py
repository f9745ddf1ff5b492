"""The repeated blocks of a backbone: the unit of sharding, recomputation and compilation."""

from __future__ import annotations

import functools

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


def blocks_of(model: nn.Module) -> list[nn.Module]:
    """The backbone's ``repeated_blocks()`` (see ``difflaws.interfaces.Backbone``); none if it
    offers no such method, and the model is then sharded as one unit."""
    found = getattr(model, "repeated_blocks", None)
    return list(found()) if callable(found) else []


def _recomputed(forward, *args, **kwargs):
    return checkpoint(forward, *args, use_reentrant=False, **kwargs)


def checkpoint_activations(blocks) -> None:
    """Keep only each block's input for backward and recompute the rest.  The block keeps its
    name (no wrapper module), so state-dict keys and checkpoints are unchanged."""
    for block in blocks:
        block.forward = functools.partial(_recomputed, block.forward)


def compile_each(blocks) -> None:
    """``torch.compile`` every block's forward: one small graph reused L times, compiled once.
    The module's ``__call__`` stays eager, so FSDP2's per-block hooks run outside the graph."""
    for block in blocks:
        block.forward = torch.compile(block.forward)
