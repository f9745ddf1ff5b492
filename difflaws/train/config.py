"""The ``[train]`` table: how long, how big a batch, how often to log and save."""

from __future__ import annotations

import attrs
from attrs.validators import ge, gt, in_, le


@attrs.frozen(kw_only=True)
class TrainConfig:
    """Training loop settings; batch sizes are in sequences."""

    steps: int = attrs.field(default=1000, validator=gt(0))
    batch_size: int = attrs.field(default=32, validator=gt(0))
    micro_batch_size: int = attrs.field(default=0, validator=ge(0))  # 0: the whole batch
    seq_len: int = attrs.field(default=256, validator=gt(0))
    warmup_steps: int = attrs.field(default=100, validator=ge(0))
    cooldown_fraction: float = attrs.field(default=0.0, validator=[ge(0.0), le(1.0)])
    grad_clip: float = attrs.field(default=1.0, validator=ge(0.0))  # 0 disables clipping
    precision: str = attrs.field(default="fp32", validator=in_(("fp32", "bf16")))
    compile: bool = False
    device: str = "auto"
    log_every: int = attrs.field(default=10, validator=gt(0))
    eval_every: int = attrs.field(default=100, validator=gt(0))
    eval_batches: int = attrs.field(default=4, validator=gt(0))
    eval_batch_size: int = attrs.field(default=0, validator=ge(0))  # 0: the micro-batch size
    checkpoint_every: int = attrs.field(default=100, validator=gt(0))
    keep_checkpoints: int = attrs.field(default=2, validator=gt(0))
