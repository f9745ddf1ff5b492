"""The ``[train]`` table: how long, how big a batch, how often to log and save."""

from __future__ import annotations

import re

import attrs
from attrs.validators import ge, gt, in_, le

from difflaws.errors import FieldError
from difflaws.interfaces.component import key
from difflaws.spec.types import MAX_BATCH, MAX_SEQ_LEN, MAX_STEPS

DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d{1,4})?")
COUNT = [gt(0), le(MAX_STEPS)]
PROPOSALS = ("schedule", "fitted")  # difflaws.train.evaluate's λ proposals


def check_device(name, where: str = "train.device") -> str:
    """Refuse a device string torch would not parse (or one that is not a compute device)."""
    if not isinstance(name, str) or not _DEVICE.fullmatch(name):
        shown = repr(name) if len(repr(name)) <= 60 else repr(name)[:60] + "..."
        sep = " " if where.startswith("-") else " = "  # --device cpu, train.device = "cpu"
        raise ValueError(f"{where}{sep}{shown} is not a device; use one of "
                         f"{', '.join(DEVICES)} (e.g. \"cuda:1\")")
    return name




@attrs.frozen(kw_only=True)
class TrainConfig:
    """Training loop settings; batch sizes are in sequences."""

    steps: int = key(1000, validator=gt(0), doc="optimizer steps to train for")
    batch_size: int = key(32, validator=[gt(0), le(MAX_BATCH)],
                          doc="sequences per optimizer step (all processes)")
    micro_batch_size: int = key(0, validator=[ge(0), le(MAX_BATCH)],
                                doc="sequences per forward/backward pass of a process (gradient "
                                    "accumulation); 0: its whole share of the batch")
    seq_len: int = key(256, validator=[gt(0), le(MAX_SEQ_LEN)],
                       doc="tokens per training sequence (packed documents)")
    warmup_steps: int = key(100, validator=[ge(0), le(MAX_STEPS)],
                            doc="steps of linear LR warmup")
    cooldown_fraction: float = key(0.0, validator=[ge(0.0), le(1.0)],
                                   doc="share of the steps at the end with a 1 − √ LR cooldown")
    grad_clip: float = key(1.0, validator=ge(0.0), doc="clip the gradient norm to this; 0 disables")
    precision: str = key("fp32", validator=in_(("fp32", "bf16")),
                         doc="compute precision: fp32, or bf16 autocast (weights stay fp32)")
    compile: bool = key(False, doc="torch.compile the model")
    device: str = key("auto",
                      doc='torch device ("cpu", "cuda", "cuda:1"); "auto": CUDA if available')
    log_every: int = key(10, validator=COUNT, doc="log a metrics record every this many steps")
    eval_every: int = key(100, validator=COUNT,
                          doc="measure the validation NELBO every this many steps (and at the end)")
    eval_batches: int = key(4, validator=[gt(0), le(MAX_BATCH)],
                            doc="validation batches per evaluation")
    eval_objective_batches: int = key(0, validator=[ge(0), le(MAX_BATCH)],
                                      doc="of those, how many also score the trained objective's "
                                          "own figure (val_objective, a third forward pass); 0: "
                                          "all")
    eval_batch_size: int = key(0, validator=[ge(0), le(MAX_BATCH)],
                               doc="sequences per validation batch; 0: the micro-batch size")
    eval_stderr_target: float = key(0.01, validator=ge(0.0),
                                    doc="the end-of-run val NELBO keeps evaluating until its "
                                        "standard error (nats/token) is at most this; 0: off")
    eval_max_batches: int = key(64, validator=[ge(0), le(MAX_BATCH)],
                                doc="at most this many validation batches for the end-of-run "
                                    "figure (eval_batches if larger)")
    eval_proposal: str = key("schedule", validator=in_(PROPOSALS),
                             doc="λ proposal of the val NELBO: the run's schedule, or one "
                                 "fitted to a pilot batch (lower variance)")
    loss_aggregation: str = key("mean", validator=in_(("mean", "sum")),
                                doc="gradient of the mean over the batch's loss tokens, or of "
                                    "their sum (GIDD's code; matters under LaProp's ε and "
                                    "grad_clip)")
    checkpoint_every: int = key(100, validator=COUNT,
                                doc="save a checkpoint every this many steps (and at the end)")
    keep_checkpoints: int = key(2, validator=[gt(0), le(10_000)],
                                doc="checkpoints kept; older ones are deleted")

    def __attrs_post_init__(self):
        # checked here, not by field validators, so `difflaws kinds` keeps its plain listing
        if self.steps > MAX_STEPS:
            raise FieldError("steps", f"{self.steps:,} is above the limit {MAX_STEPS:,} "
                                      "(2**40); train for fewer steps")
        try:
            check_device(self.device, "device")
        except ValueError as exc:
            raise FieldError("device", str(exc).replace("device = ", "", 1)) from None
