"""The few points where training on many processes differs from training on one.

The trainer calls a strategy to build and wrap the model, to pick its own
rows of each batch, to accumulate, reduce and clip gradients, and to save
and restore checkpoints.  :class:`Strategy` is the single-process identity;
:class:`DDP` replicates the model; :class:`FSDP2` shards it per block.
"""

from __future__ import annotations

import contextlib
import math

import torch

from difflaws.distributed import batches, blocks
from difflaws.distributed.world import World, join


def strategy_for(spec) -> "Strategy":
    """Join the process group the spec asks for and return its strategy."""
    cfg = spec.distributed
    world = join(cfg, spec.train.device)
    try:
        batches.check_split(spec.train.batch_size, spec.train.micro_batch_size, world.world_size)
        return {"none": Strategy, "ddp": DDP, "fsdp2": FSDP2}[cfg.strategy](world, spec)
    except BaseException:
        world.close()
        raise


class Strategy:
    """One process: every hook is the identity; checkpoints are the single-file kind."""

    def __init__(self, world: World, spec):
        self.world, self.spec, self.config = world, spec, spec.distributed
        self.device = world.device

    @property
    def is_main(self) -> bool:
        return self.world.is_main

    @property
    def world_size(self) -> int:
        return self.world.world_size

    # gradients are averaged over ranks by DDP and FSDP2; the loss is pre-scaled so that the
    # result is the sum of every rank's share of the global-batch mean
    @property
    def grad_scale(self) -> float:
        return float(self.world_size)

    # -- the model ------------------------------------------------------------------
    def build_model(self, spec, vocab_size: int):
        from difflaws.train.setup import build_model

        return build_model(spec, _Vocab(vocab_size), self.device)

    def wrap(self, model, compile: bool = False):
        """The callable the loop runs forward through (``model`` keeps the parameters)."""
        self._tune_blocks(model)
        return torch.compile(model) if compile else model

    def _tune_blocks(self, model) -> None:
        stack = blocks.blocks_of(model)
        if self.config.compile_blocks:  # first, so recomputation re-runs the compiled code
            blocks.compile_each(stack)
        if self.config.activation_checkpointing:
            blocks.checkpoint_activations(stack)

    # -- a step -------------------------------------------------------------------
    def local(self, chunks):
        """This rank's rows of the step's drawn chunks (see :mod:`difflaws.distributed.batches`)."""
        return batches.local_chunks(chunks, self.world.rank, self.world_size)

    def accumulating(self, last: bool):
        """Context for one micro-batch's backward: gradients sync only on the last."""
        return contextlib.nullcontext()

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor

    def clip_grad_norm(self, parameters, max_norm: float) -> torch.Tensor:
        """Clip to ``max_norm`` (0: don't) and return the global gradient norm as a plain tensor."""
        clip = max_norm if max_norm > 0 else math.inf
        norm = torch.nn.utils.clip_grad_norm_(list(parameters), clip)
        return norm.full_tensor() if hasattr(norm, "full_tensor") else norm

    def barrier(self) -> None:
        pass

    @contextlib.contextmanager
    def main_first(self):
        """Rank 0 runs the block first (e.g. tokenising into the shared cache), then the rest."""
        if not self.is_main:
            self.barrier()
        yield
        if self.is_main:
            self.barrier()

    # -- checkpoints ------------------------------------------------------------------
    def save(self, run_dir, step: int, model, optimizer, state: dict, keep: int) -> None:
        from difflaws import checkpoint

        checkpoint.save(run_dir, step, model.state_dict(), {**state, "optimizer":
                        optimizer.state_dict()}, keep=keep)

    def load(self, run_dir, model, optimizer, warn=None):
        """Restore model and optimizer from the newest usable checkpoint; returns
        ``(step, trainer state)`` or None when there is none."""
        from difflaws import checkpoint

        found = checkpoint.latest(run_dir, warn=warn)
        if found is None:
            return None
        step, weights, state = found
        from difflaws.distributed.checkpoints import global_shapes, refuse_misfits

        refuse_misfits(f"of step {step} in {run_dir}", global_shapes(model),
                       {k: tuple(v.shape) for k, v in weights.items()})
        if "optimizer" not in state or "noise_rng" not in state:
            from difflaws.errors import UserError

            raise UserError(f"{run_dir} holds weights without a training state (an imported "
                            "checkpoint, e.g. by `difflaws import-hf`): `sample` and `eval` "
                            "read it, but `run` cannot resume it; train in a new run directory")
        model.load_state_dict(weights)
        optimizer.load_state_dict(state["optimizer"])
        return step, state

    def close(self) -> None:
        self.world.close()


class _Distributed(Strategy):
    """What DDP and FSDP2 share: collectives and sharded (DCP) checkpoints."""

    def all_reduce_sum(self, tensor):
        import torch.distributed as dist

        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def barrier(self) -> None:
        import torch.distributed as dist

        dist.barrier()

    def save(self, run_dir, step, model, optimizer, state, keep) -> None:
        from difflaws.distributed import checkpoints

        checkpoints.save(run_dir, step, model, optimizer, state, keep, self.world)

    def load(self, run_dir, model, optimizer, warn=None):
        from difflaws.distributed import checkpoints

        return checkpoints.load_latest(run_dir, model, optimizer, self.world, warn=warn)


class DDP(_Distributed):
    """Replicated model, all-reduced gradients (``DistributedDataParallel``)."""

    def wrap(self, model, compile=False):
        from torch.nn.parallel import DistributedDataParallel

        self._tune_blocks(model)
        ids = [self.device.index] if self.device.type == "cuda" else None
        self.ddp = DistributedDataParallel(model, device_ids=ids)
        return torch.compile(self.ddp) if compile else self.ddp

    def accumulating(self, last):
        return contextlib.nullcontext() if last else self.ddp.no_sync()


class FSDP2(_Distributed):
    """Parameters, gradients and optimizer state sharded per block (``fully_shard``),
    with bf16 compute and reduction available over fp32 master weights."""

    def dtypes(self):
        precision = self.spec.train.precision

        def pick(name):
            name = precision if name == "auto" else name
            return torch.bfloat16 if name == "bf16" else None  # None: leave fp32

        return pick(self.config.param_dtype), pick(self.config.reduce_dtype)

    def build_model(self, spec, vocab_size):
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        from difflaws.distributed import meta_init
        from difflaws.model.roles import role_of, tag

        model = meta_init.build_on_meta(spec, vocab_size)
        records = model.param_records()
        roles = {n: role_of(p) for n, p in model.named_parameters()}
        built_buffers, built_params = meta_init.keep_aside(model)
        model.to("meta")
        self._tune_blocks(model)
        mesh = init_device_mesh(self.device.type, (self.world_size,))
        param_dtype, reduce_dtype = self.dtypes()
        inner = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=reduce_dtype)
        for block in blocks.blocks_of(model):
            fully_shard(block, mesh=mesh, mp_policy=inner)
        # the root keeps λ in fp32 on the way in and hands the loss fp32 logits
        root = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=reduce_dtype,
                                    output_dtype=torch.float32, cast_forward_inputs=False)
        fully_shard(model, mesh=mesh, mp_policy=root)
        model.to_empty(device=self.device)
        for name, p in model.named_parameters():  # sharding made new Parameter objects
            tag(p, roles[name])
        generator = torch.Generator(device="cpu").manual_seed(spec.seed)
        meta_init.initialise(model, records, generator, built_buffers, built_params, self.device)
        return model

    def wrap(self, model, compile=False):  # blocks were tuned before sharding, in build_model
        self.model = model
        return torch.compile(model) if compile else model

    def accumulating(self, last):
        self.model.set_requires_gradient_sync(last)
        return contextlib.nullcontext()


class _Vocab:
    """The one tokenizer attribute ``build_model`` reads."""

    def __init__(self, vocab_size: int):
        self.vocab_size = vocab_size
