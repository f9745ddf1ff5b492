"""The run spec: metadata at the top level, one table per component."""

from __future__ import annotations

import attrs

from difflaws.components import Slot, default_kind
from difflaws.distributed.config import DistributedConfig
from difflaws.spec.errors import FieldError
from difflaws.train.config import TrainConfig

SCHEMA_VERSION = 1


def _schema(_, __, value):
    if value != SCHEMA_VERSION:
        raise FieldError("schema_version",
                         f"this difflaws reads schema_version {SCHEMA_VERSION}, not {value}")


@attrs.frozen(kw_only=True)
class Spec:
    """A training run: what to train on, what to train, and how."""

    schema_version: int = attrs.field(default=SCHEMA_VERSION, validator=_schema)
    name: str = ""
    seed: int = 0
    out_dir: str = "runs"
    required_plugins: list[str] = attrs.Factory(list)
    noise: Slot["noise"]
    backbone: Slot["backbone"]
    parameterization: Slot["parameterization"] = default_kind("parameterization", "completep")
    optimizer: Slot["optimizer"] = default_kind("optimizer", "adamw")
    tokenizer: Slot["tokenizer"] = default_kind("tokenizer", "bytes")
    data: Slot["data"] = default_kind("data", "stdlib")
    sampler: Slot["sampler"] = default_kind("sampler", "ancestral")
    loggers: list[Slot["logger"]] = attrs.Factory(list)
    train: TrainConfig = attrs.Factory(TrainConfig)
    distributed: DistributedConfig = attrs.Factory(DistributedConfig)

    def __attrs_post_init__(self):
        # A spec that cannot run must fail at load time, naming the key, not mid-training.
        limit = getattr(self.backbone, "max_seq_len", None)
        if limit is not None and self.train.seq_len > limit:
            raise FieldError("train.seq_len",
                             f"{self.train.seq_len} is above the backbone's max_seq_len = {limit}; "
                             "shorten train.seq_len or raise backbone.max_seq_len")
