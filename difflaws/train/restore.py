"""Re-open a finished (or running) run: its spec, tokenizer, objective and weights."""

from __future__ import annotations

import attrs

from difflaws import engine
from difflaws.train.setup import build_model, build_objective, cache_dir_for, resolve_device


@attrs.define
class Trained:
    spec: object
    tokenizer: object
    objective: object
    model: object
    step: int
    device: object

    @property
    def process(self):
        """What samplers receive as ``process``: the noise process they step, or the
        objective itself when it has none (a next-token sampler reads its ``mask_id``)."""
        return self.objective.process if self.objective.process is not None else self.objective


def load_trained(run_dir, device: str = "auto", host=None) -> Trained:
    spec = engine.load_run(run_dir, host=host)
    from difflaws.distributed.export import full_weights

    step, weights = full_weights(run_dir)  # single-process and sharded checkpoints alike
    dev = resolve_device(device)
    source = spec.data.build()
    tokenizer = spec.tokenizer.build(source=source, cache_dir=cache_dir_for(run_dir))
    model = build_model(spec, tokenizer, dev)
    model.load_state_dict(weights)
    model.eval()
    return Trained(spec, tokenizer, build_objective(spec, tokenizer), model, step, dev)
