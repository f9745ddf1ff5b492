"""Re-open a finished (or running) run: its spec, tokenizer, noise process and weights."""

from __future__ import annotations

import attrs

from difflaws import engine
from difflaws.train.setup import build_model, build_process, cache_dir_for, resolve_device


@attrs.define
class Trained:
    spec: object
    tokenizer: object
    process: object
    model: object
    step: int
    device: object


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
    return Trained(spec, tokenizer, build_process(spec, tokenizer), model, step, dev)
