"""The ``[distributed]`` table: how a run spreads over processes."""

from __future__ import annotations

import attrs
from attrs.validators import in_

STRATEGIES = ("none", "ddp", "fsdp2")
BACKENDS = ("auto", "gloo", "nccl")
DTYPES = ("auto", "fp32", "bf16")


@attrs.frozen(kw_only=True)
class DistributedConfig:
    """Parallel strategy, process-group backend and the memory savers of big runs.

    The world size is not part of the spec: it comes from the launcher
    (``torchrun --nproc_per_node N`` or ``difflaws run --nproc N``), so a run
    can be resumed with a different number of processes.
    """

    strategy: str = attrs.field(default="none", validator=in_(STRATEGIES))
    # "auto": nccl on CUDA, gloo on CPU
    backend: str = attrs.field(default="auto", validator=in_(BACKENDS))
    activation_checkpointing: bool = False  # recompute each block's activations in backward
    compile_blocks: bool = False  # torch.compile each block (not the whole model)
    # FSDP2 mixed precision; "auto" follows train.precision.  Master weights and
    # optimizer state stay fp32 whatever these say.
    param_dtype: str = attrs.field(default="auto", validator=in_(DTYPES))
    reduce_dtype: str = attrs.field(default="auto", validator=in_(DTYPES))
