"""The ``[distributed]`` table: how a run spreads over processes."""

from __future__ import annotations

import attrs
from attrs.validators import in_

from difflaws.interfaces.component import key

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

    strategy: str = key("none", validator=in_(STRATEGIES),
                        doc="none: one process; ddp: replicated model; fsdp2: sharded model")
    backend: str = key("auto", validator=in_(BACKENDS),
                       doc='process-group backend; "auto": nccl on CUDA, gloo on CPU')
    activation_checkpointing: bool = key(False,
                                         doc="recompute each block's activations in backward")
    compile_blocks: bool = key(False, doc="torch.compile each block (not the whole model)")
    param_dtype: str = key("auto", validator=in_(DTYPES),
                           doc='FSDP2 compute dtype of the weights; "auto": follows '
                               "train.precision (master weights stay fp32)")
    reduce_dtype: str = key("auto", validator=in_(DTYPES),
                            doc='FSDP2 dtype of the gradient reduction; "auto": follows '
                                "train.precision")
