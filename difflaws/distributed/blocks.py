"""The repeated blocks of a backbone: the unit of sharding, recomputation and compilation."""

from __future__ import annotations

import functools

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


def blocks_of(model: nn.Module) -> list[nn.Module]:
    """``model.blocks`` if the backbone has it, else its longest ModuleList (the layer stack)."""
    found = getattr(model, "blocks", None)
    if isinstance(found, nn.ModuleList):
        return list(found)
    stacks = [m for m in model.modules() if isinstance(m, nn.ModuleList)]
    return list(max(stacks, key=len)) if stacks else []


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
