"""The plugin contracts: one typed interface per category, in one place.

Every kind a plugin registers is a frozen attrs class that subclasses its
category's interface below.  The interface documents what ``build(**context)``
receives and what the built object must provide, and gives the optional
capabilities a kind may override (run labels, figures, plan contributions,
coordcheck defaults, size figures ...).  A spec field annotated with an
interface accepts any registered kind of its category.

========================  ===================================================
category                  interface
========================  ===================================================
``objective``             :class:`ObjectiveConfig` → :class:`Objective`
``noise``                 :class:`NoiseConfig`  → ``difflaws.noise.NoiseProcess``
``schedule``              :class:`ScheduleConfig` → ``difflaws.noise.Schedule``
``parameterization``      :class:`ParameterizationConfig`
``backbone``              :class:`BackboneConfig` → :class:`Backbone` module
``attention``             :class:`AttentionConfig` → kernel function
``optimizer``             :class:`OptimizerConfig` → ``torch.optim.Optimizer``
``data``                  :class:`DataConfig` → ``difflaws.data.source.DataSource``
``tokenizer``             :class:`TokenizerConfig` → ``difflaws.tokenizers.Tokenizer``
``sampler``               :class:`SamplerConfig`
``fitter``                :class:`FitterConfig` → object with ``fit(table)``
``lawset``                :class:`LawSetConfig` → ``difflaws.plan.laws.LawSet``
``executor``              :class:`ExecutorConfig`
``logger``                :class:`LoggerConfig`
========================  ===================================================

Nothing here imports torch, so listing and validating kinds stays fast.
"""

from difflaws.interfaces.attention import AttentionConfig
from difflaws.interfaces.backbone import Backbone, BackboneConfig
from difflaws.interfaces.component import ComponentConfig, default_of, is_interface, key
from difflaws.interfaces.data import DataConfig
from difflaws.interfaces.executor import ExecutorConfig
from difflaws.interfaces.fitter import FitterConfig, PlanContribution
from difflaws.interfaces.lawset import LawSetConfig
from difflaws.interfaces.logger import LoggerConfig
from difflaws.interfaces.noise import NoiseConfig
from difflaws.interfaces.objective import Objective, ObjectiveConfig
from difflaws.interfaces.optimizer import OptimizerConfig
from difflaws.interfaces.parameterization import ParameterizationConfig
from difflaws.interfaces.sampler import LEFT_TO_RIGHT, REVERSE_PROCESS, SamplerConfig
from difflaws.interfaces.schedule import ScheduleConfig
from difflaws.interfaces.tokenizer import TokenizerConfig

#: category name → its interface, in the order ``difflaws kinds`` lists them
INTERFACES: dict[str, type] = {cls.category: cls for cls in (
    ObjectiveConfig, NoiseConfig, ScheduleConfig, ParameterizationConfig, BackboneConfig,
    AttentionConfig, OptimizerConfig, DataConfig, TokenizerConfig, SamplerConfig, FitterConfig,
    LawSetConfig, ExecutorConfig, LoggerConfig)}


def interface_for(category: str) -> type:
    return INTERFACES[category]


__all__ = ["INTERFACES", "LEFT_TO_RIGHT", "REVERSE_PROCESS", "AttentionConfig", "Backbone", "BackboneConfig", "ComponentConfig",
           "DataConfig", "ExecutorConfig", "FitterConfig", "LawSetConfig", "LoggerConfig",
           "NoiseConfig", "Objective", "ObjectiveConfig",
           "OptimizerConfig", "ParameterizationConfig", "PlanContribution", "SamplerConfig",
           "ScheduleConfig", "TokenizerConfig", "default_of", "interface_for", "is_interface", "key"]
