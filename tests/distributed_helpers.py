"""A small training loop over the real components, driven through a distributed Strategy,
and the two-process worker the distributed tests spawn.

It takes the trainer's steps (LR schedule, chunked draws of data and noise,
loss-token-weighted micro-batches, clipping, checkpoints) with the strategy's
hooks at the same points, so one-process and W-process runs can be compared
step by step.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from difflaws import engine
from difflaws.distributed.strategy import strategy_for
from difflaws.optim.schedule import apply_lr, wsd_multiplier
from difflaws.plugins import PluginHost
from difflaws.train.setup import build_data, build_objective, field

TINY = """
name = "tiny"
seed = 5
[noise]
kind = "masked"
[backbone]
kind = "transformer"
width = 32
depth = 2
head_dim = 16
conditioning = "adaln"
[optimizer]
kind = "laprop"
lr = 0.3
[data]
kind = "markov"
n_symbols = 8
train_tokens = 20000
val_tokens = 2000
doc_len = 50
[train]
steps = 6
batch_size = 8
micro_batch_size = 2
seq_len = 32
warmup_steps = 2
grad_clip = 0.5
checkpoint_every = 3
device = "cpu"
"""


def tiny_spec(path: Path, *overrides: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(TINY)
    return engine.load(path, list(overrides), host=PluginHost(entry_points=False))


def full_params(model) -> dict[str, torch.Tensor]:
    """Whole parameter tensors on every rank (gathering FSDP2 shards)."""
    out = {}
    for name, p in model.named_parameters():
        p = p.detach()
        out[name] = (p.full_tensor() if hasattr(p, "full_tensor") else p).clone()
    return out


def train_loop(spec, run_dir, stop_after: int | None = None) -> dict:
    """Train (resuming from ``run_dir`` if it holds a checkpoint); ``stop_after`` ends the
    process's work at that step without a checkpoint, as a kill would."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    t = spec.train
    dist = strategy_for(spec)
    try:
        torch.manual_seed(spec.seed)
        data = build_data(spec, run_dir)
        objective = build_objective(spec, data.tokenizer)
        model = dist.build_model(spec, data.tokenizer.vocab_size)
        initial = full_params(model)
        optimizer = spec.optimizer.build(model.named_parameters(), model.param_records())
        forward = dist.wrap(model)
        gen = torch.Generator(device=dist.device).manual_seed(spec.seed)
        step, losses = 0, {}
        found = dist.load(run_dir, model, optimizer)
        if found is not None:
            step, state = found
            gen.set_state(state["noise_rng"])
            data.train.load_state_dict(state["data"])
        start = step
        micro = t.micro_batch_size or t.batch_size
        while step < t.steps:
            apply_lr(optimizer, spec.optimizer.lr,
                     wsd_multiplier(step, t.steps, t.warmup_steps, t.cooldown_fraction))
            chunks = []
            for first in range(0, t.batch_size, micro):
                x, doc_ids = data.train.next_batch(min(micro, t.batch_size - first))
                chunks.append((x, doc_ids, objective.batch(x, gen)))
            total = torch.stack([b.loss_mask.sum() for _, _, b in chunks]).sum().clamp_min(1)
            sums = torch.zeros(2)
            mine = dist.local(chunks)
            for i, (x, doc_ids, batch) in enumerate(mine):
                with dist.accumulating(last=i == len(mine) - 1):
                    logits = forward(batch.z, batch.log_snr, doc_ids=doc_ids,
                                     prefix_len=batch.prefix_len)
                    out = objective.loss(logits, batch, x)
                    weight = batch.loss_mask.sum() / total
                    (field(out, "loss") * weight * dist.grad_scale).backward()
                values = [field(out, "loss").detach(), field(out, "nelbo").detach()]
                sums += torch.stack(values) * weight
            sums = dist.all_reduce_sum(sums)
            norm = dist.clip_grad_norm(model.parameters(), t.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            losses[step] = sums.tolist() + [float(norm)]  # loss, nelbo, gradient norm
            if step % t.checkpoint_every == 0 or step == t.steps:
                dist.save(run_dir, step, model, optimizer,
                          {"step": step, "noise_rng": gen.get_state(),
                           "data": data.train.state_dict()}, keep=2)
            if stop_after is not None and step >= stop_after:
                break
        return {"start": start, "losses": losses, "initial": initial, "final": full_params(model),
                "world_size": dist.world_size}
    finally:
        dist.close()


def two_process_worker(rank: int, port: int, jobs: list, out_dir: str,
                       backend: str = "gloo") -> None:
    """One of two ranks: run each ``(name, spec_path, overrides, run_dir, stop_after)`` job in
    turn; rank 0 saves each result to ``out_dir/name.pt``."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      LOCAL_RANK=str(rank), WORLD_SIZE="2", OMP_NUM_THREADS="1")
    os.environ["DIFFLAWS_LOAD_PLUGINS"] = ""
    torch.set_num_threads(1)
    import torch.distributed as dist

    if backend == "nccl":
        torch.cuda.set_device(rank)
    dist.init_process_group(backend)
    try:
        for name, spec_path, overrides, run_dir, stop_after in jobs:
            spec = engine.load(spec_path, overrides, host=PluginHost(entry_points=False))
            result = train_loop(spec, run_dir, stop_after)
            if rank == 0:
                torch.save(result, Path(out_dir) / f"{name}.pt")
    finally:
        dist.destroy_process_group()
