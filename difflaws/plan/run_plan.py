"""A spec's plan: figures and memory for ``run --dry-run``, and the can't-fit refusal.

Nothing here builds the model: figures come from the backbone's analytic
``figures()``, so a 10B spec is planned instantly on any machine.
"""

from __future__ import annotations

import os
import shlex

import attrs

from difflaws import engine
from difflaws.data.pool import planned
from difflaws.plan.devices import DEFAULT_CARDS, card_plans, cards_json, describe_cards, parse_bytes
from difflaws.plan.memory import GIB, Footprint, Setup, estimate, min_devices
from difflaws.errors import UserError

MEMORY_ENV = "DIFFLAWS_DEVICE_MEMORY"  # e.g. "24GB": override the detected device memory
GPUS_PER_NODE = 8  # assumed node size when suggesting a multi-node launch


def footprint(spec) -> Footprint | None:
    figures = engine.figures(spec) or {}
    vocab = spec.tokenizer.vocab_size
    if not vocab or not all(figures.get(k) for k in ("depth", "width", "non_embedding_params")):
        return None  # a backbone without these figures cannot be planned
    # a backbone may say its attention kernel keeps no T×T scores; assume it does otherwise
    scores = bool(figures.get("materializes_attention_scores", True))
    return Footprint.from_figures(figures, vocab, spec.train.seq_len, scores)


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def spec_setup(spec, world: int) -> Setup:
    """The strategy, micro-batch and checkpointing the spec asks for, at ``world`` ranks."""
    dist = getattr(spec, "distributed", None)
    strategy = getattr(dist, "strategy", None) or "none"
    if strategy not in ("ddp", "fsdp2"):  # "none": one process, or plain data parallel
        strategy = "single" if world == 1 else "ddp"
    if world == 1 and strategy == "ddp":
        strategy = "single"
    t = spec.train
    per_rank = max(1, t.batch_size // world)
    micro = t.micro_batch_size or per_rank
    return Setup(strategy=strategy, world_size=world, micro_batch=min(micro, per_rank),
                 activation_checkpointing=bool(getattr(dist, "activation_checkpointing", False)),
                 precision=t.precision)


def plan(spec) -> dict:
    fp = footprint(spec)
    out = {"figures": engine.figures(spec)}
    pool = planned(spec)
    if pool is not None:
        out["data_pool"] = pool
    if fp is None:
        return out
    here = estimate(fp, spec_setup(spec, world_size()))
    micro = spec.train.micro_batch_size or 1
    out["memory"] = here.as_dict()
    out["min_gpus"] = cards_json(card_plans(fp, spec.train.batch_size, DEFAULT_CARDS, micro))
    return out


def plan_text(spec) -> str:
    figures = engine.figures(spec) or {}
    lines = ["plan:"]
    for key in ("shape", "non_embedding_params", "total_params", "flops_per_token_M",
                "flops_per_token_6P"):
        if figures.get(key) is not None:
            value = figures[key]
            lines.append(f"  {key:<22} {value:.4g}" if isinstance(value, (int, float))
                         else f"  {key:<22} {value}")
    t = spec.train
    tokens = t.steps * t.batch_size * t.seq_len
    lines.append(f"  {'tokens':<22} {tokens:.4g} ({t.steps} steps × {t.batch_size} × {t.seq_len})")
    pool = planned(spec)
    if pool is not None:
        lines.append(f"  {'data pool':<22} {pool['pool_tokens']:.4g} unique tokens "
                     f"({pool['epochs']:.3g} epochs)")
    if figures.get("flops_per_token_M"):
        lines.append(f"  {'compute (M·D)':<22} {figures['flops_per_token_M'] * tokens:.4g} FLOPs")
    fp = footprint(spec)
    if fp is None:
        lines.append("  memory: the backbone reports no depth/width; not estimated")
        return "\n".join(lines)
    here = estimate(fp, spec_setup(spec, world_size())).lines()
    lines.append("  memory per device as specified: " + here[0])
    lines += ["  " + line for line in here[1:]]
    lines.append("  fewest GPUs:")
    lines += describe_cards(card_plans(fp, t.batch_size, DEFAULT_CARDS,
                                       t.micro_batch_size or 1))
    return "\n".join(lines)


def local_memory() -> tuple[int, str]:
    """Bytes this process may use on its device, and what the device is."""
    if os.environ.get(MEMORY_ENV):
        return parse_bytes(os.environ[MEMORY_ENV]), f"{MEMORY_ENV}={os.environ[MEMORY_ENV]}"
    import torch

    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(torch.cuda.current_device())
        return props.total_memory, f"{props.name}"
    try:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        return int(info["MemAvailable"].split()[0]) * 1024, "CPU memory available"
    except (OSError, KeyError, ValueError):
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "CPU memory"


def launch_command(spec, spec_path: str, overrides, world: int) -> str:
    sets = list(overrides)
    dist = getattr(spec, "distributed", None)
    if "distributed" in attrs.fields_dict(type(spec)):
        if getattr(dist, "strategy", None) != "fsdp2":
            sets.append("distributed.strategy=fsdp2")
        if not getattr(dist, "activation_checkpointing", False):
            sets.append("distributed.activation_checkpointing=true")
    if spec.train.micro_batch_size != 1:
        sets.append("train.micro_batch_size=1")
    tail = " ".join(f"--set {shlex.quote(s)}" for s in sets)
    run = f"-m difflaws run {shlex.quote(str(spec_path))} {tail}".rstrip()
    if world <= GPUS_PER_NODE:
        return f"torchrun --nproc_per_node={world} {run}"
    nodes = world // GPUS_PER_NODE
    return (f"torchrun --nnodes={nodes} --nproc_per_node={GPUS_PER_NODE} --rdzv-backend c10d "
            f"--rdzv-endpoint HOST:29500 {run}   # on each of {nodes} nodes")


def refuse_if_too_big(spec, spec_path: str, overrides=()) -> None:
    """Raise a UserError when this device cannot hold the run as specified."""
    fp = footprint(spec)
    if fp is None:
        return
    available, device = local_memory()
    needed = estimate(fp, spec_setup(spec, world_size()))
    if needed.total <= available:
        return
    def fewest(worlds=None):
        return min_devices(fp, available, spec.train.batch_size, micro_batch=1,
                           precision=spec.train.precision, usable_fraction=1.0, worlds=worlds)

    best = fewest()
    if best is not None and best.setup.world_size > GPUS_PER_NODE:  # use whole nodes
        best = fewest(range(GPUS_PER_NODE, 65536 + 1, GPUS_PER_NODE))
    if best is None:
        advice = ("it does not fit on any number of such devices even with FSDP2 and activation "
                  "checkpointing at micro-batch 1; use larger devices or a smaller model")
    else:
        advice = (f"it fits on {best.setup.world_size} such devices with FSDP2 and activation "
                  f"checkpointing ({best.total / GIB:.1f} GiB each); run instead:\n  "
                  + launch_command(spec, spec_path, overrides, best.setup.world_size))
    raise UserError(f"this device cannot hold the model: it needs {needed.total / GIB:.1f} GiB "
                    f"per device ({needed.lines()[0]}) but {device} has {available / GIB:.1f} "
                    f"GiB; {advice}")
