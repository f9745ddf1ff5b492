"""Built-in objectives: ``diffusion`` (the noise process's NELBO) and ``autoregressive``."""

from __future__ import annotations

import attrs

from difflaws import hookimpl
from difflaws.interfaces import LEFT_TO_RIGHT, ObjectiveConfig


@attrs.frozen(kw_only=True)
class DiffusionObjectiveConfig(ObjectiveConfig):
    """Discrete diffusion: denoise the [noise] process's corruptions; the loss is its NELBO."""

    def build(self, noise=None, vocab_size: int = 0, mask_id: int = 0, **context):
        from difflaws.objectives.diffusion import DiffusionObjective

        return DiffusionObjective(noise.build(vocab_size=vocab_size, mask_id=mask_id))


@attrs.frozen(kw_only=True)
class AutoregressiveObjectiveConfig(ObjectiveConfig):
    """Autoregressive next-token prediction through a causal backbone; exact NLL, no [noise]."""

    def build(self, noise=None, vocab_size: int = 0, mask_id: int = 0, **context):
        from difflaws.objectives.next_token import NextTokenObjective

        return NextTokenObjective(mask_id, context.get("eos_id", 0))

    def needs_noise(self) -> bool:
        return False

    def causal(self) -> bool:
        return True

    def gives_log_snr(self) -> bool:
        return False

    def sampler_family(self) -> str:
        return LEFT_TO_RIGHT

    def default_sampler(self):
        from difflaws.builtins.samplers import NextTokenSamplerConfig

        return NextTokenSamplerConfig()


@hookimpl
def difflaws_register_kinds(register):
    register("objective", "diffusion", DiffusionObjectiveConfig, default=True)
    register("objective", "autoregressive", AutoregressiveObjectiveConfig)
