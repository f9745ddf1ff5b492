"""The run spec: metadata at the top level, one table per component."""

from __future__ import annotations

import attrs

from difflaws.distributed.config import DistributedConfig
from difflaws.errors import FieldError
from difflaws.interfaces import (BackboneConfig, DataConfig, LoggerConfig, NoiseConfig,
                                 ObjectiveConfig, OptimizerConfig, ParameterizationConfig,
                                 SamplerConfig, TokenizerConfig, default_of, key)
from difflaws.rundir import validate_name
from difflaws.spec.types import SEED
from difflaws.train.config import TrainConfig

SCHEMA_VERSION = 1


def _schema(_, __, value):
    if value != SCHEMA_VERSION:
        raise FieldError("schema_version",
                         f"this difflaws reads schema_version {SCHEMA_VERSION}, not {value}")


@attrs.frozen(kw_only=True)
class Spec:
    """A training run: what to train on, what to train, and how."""

    schema_version: int = key(SCHEMA_VERSION, validator=_schema,
                              doc=f"the spec format's version; this difflaws reads "
                                  f"{SCHEMA_VERSION}")
    name: str = key("", validator=validate_name,
                    doc='the run\'s name, its directory under out_dir; "": the file\'s stem')
    seed: int = key(0, validator=SEED, doc="seeds the weights' init, the data order and the noise draws")
    out_dir: str = key("runs", doc="runs go to OUT_DIR/NAME (unless run --out says otherwise)")
    required_plugins: list[str] = key(factory=list,
                                      doc='plugin distributions the spec needs, e.g. '
                                          '"difflaws-foo>=1.2"; checked when it loads')
    objective: ObjectiveConfig = key(default_of("objective"),
                                     doc="what the network learns: diffusion over [noise], or "
                                         "next-token prediction")
    noise: NoiseConfig | None = key(None, doc="the forward noise process (the diffusion "
                                              "objective needs one; next-token takes none)")
    backbone: BackboneConfig = key(doc="the network: a denoiser, or causal for next-token "
                                       "prediction")
    parameterization: ParameterizationConfig = key(default_of("parameterization"),
                                                   doc="per-tensor init, LR, WD and ε rules")
    optimizer: OptimizerConfig = key(default_of("optimizer"), doc="the optimizer and its base LR")
    tokenizer: TokenizerConfig = key(default_of("tokenizer"), doc="text ↔ token ids")
    data: DataConfig = key(default_of("data"), doc="the training and validation data")
    sampler: SamplerConfig = key(attrs.Factory(lambda self: self.objective.default_sampler(),
                                               takes_self=True),
                                 doc="how difflaws sample generates from the trained model; "
                                     "default: the objective's")
    loggers: list[LoggerConfig] = key(factory=list,
                                      doc="extra places metrics go, besides "
                                          "metrics.jsonl and the DB")
    train: TrainConfig = key(attrs.Factory(TrainConfig), doc="the training loop")
    distributed: DistributedConfig = key(attrs.Factory(DistributedConfig),
                                         doc="parallel strategy and memory savers")

    def __attrs_post_init__(self):
        # A spec that cannot run must fail at load time, naming the key, not mid-training.
        self._check_objective()
        limit = self.backbone.max_context()
        if limit is not None and self.train.seq_len > limit:
            raise FieldError("train.seq_len",
                             f"{self.train.seq_len} is above the backbone's context limit {limit}; "
                             "shorten train.seq_len or raise the backbone's limit")

    def _check_objective(self) -> None:
        objective = self.objective
        if objective.needs_noise() and self.noise is None:
            raise FieldError("noise", "missing: this objective trains a noise process; add a "
                                      "[noise] table (`difflaws kinds noise` lists the kinds)")
        if not objective.needs_noise() and self.noise is not None:
            raise FieldError("noise", "this objective trains no noise process; remove the "
                                      "[noise] table, or pick an objective that trains one "
                                      "(`difflaws kinds objective`)")
        if objective.causal() and not self.backbone.supports_causal():
            raise FieldError("backbone", "this backbone cannot attend causally, which the "
                                         "objective needs; pick one that can (`difflaws "
                                         "kinds backbone`)")
        if self.backbone.reads_log_snr() and not objective.gives_log_snr():
            raise FieldError("backbone", "this backbone reads the log-SNR λ, which the "
                                         "objective does not give; drop its λ conditioning "
                                         "(e.g. conditioning = \"none\")")
        family = objective.sampler_family()
        if self.sampler.family() != family:
            raise FieldError("sampler", f"this sampler generates {self.sampler.family()}, "
                                        f"and this objective's models generate {family}; "
                                        "remove the [sampler] table for the objective's "
                                        "default, or see `difflaws kinds sampler`")
