"""Per-device memory of a training run: parameters, gradients, optimizer state, activations.

The model is described by a ``Footprint`` (parameter counts and the few
dimensions activations scale with); the run by a ``Setup`` (strategy, world
size, micro-batch, activation checkpointing, precision).  Assumptions, each
stated where it is used:

* ``single`` and ``ddp`` keep fp32 parameters, fp32 gradients and two fp32
  optimizer moments (Adam/LaProp) on every device; bf16 training is autocast
  over fp32 weights.  DDP adds its fp32 gradient buckets (one more gradient
  copy, PyTorch's default ``gradient_as_bucket_view=False``).
* ``fsdp2`` shards the fp32 master parameters, gradients and moments over
  the world (dim 0 of each tensor, padded to a multiple of the world size, as
  ``fully_shard`` does) and all-gathers bf16 (or fp32) copies one block at a
  time, prefetching the next, with the root unit (embedding, final norm,
  head) gathered for the whole step.  Gradients are reduce-scattered in the
  same dtype.
* Activations count the tensors a pre-norm block saves for backward: about
  22·d values per token (norm inputs/outputs, q/k/v, QK-normed and rotated
  q/k, attention output, the 4d MLP pre- and post-activation; measured on
  the built-in transformer in ``tests/test_memory.py``), plus, when the
  attention kernel materialises scores (soft-capped logits do), the scores
  and probabilities: 2·heads·T values per token.  The head adds fp32 logits
  and their gradient (V values each) per token.  With activation
  checkpointing a block keeps only its input, and one block is recomputed
  at a time during backward.

Device memory is never fully usable (CUDA context, allocator fragmentation,
communication buffers), so fitting compares against ``usable_fraction`` of
the card.
"""

from __future__ import annotations

import math

import attrs

STRATEGIES = ("single", "ddp", "fsdp2")
DTYPE_BYTES = {"fp32": 4, "bf16": 2}
MASTER_BYTES = 4  # parameters, gradients and moments are kept in fp32
OPTIMIZER_MOMENTS = 2  # Adam / LaProp: first and second moment
SAVED_VALUES_PER_BLOCK = 22  # × width, per token (see the module docstring)
LOGIT_COPIES = 2  # fp32 logits and their gradient
USABLE_FRACTION = 0.9
GIB = 1024 ** 3


@attrs.frozen
class Footprint:
    """What memory depends on: parameter counts and activation dimensions."""

    total_params: int
    block_params: int  # one transformer block (the unit FSDP2 gathers)
    root_params: int  # everything outside the blocks: embedding, final norm, head
    depth: int
    width: int
    heads: int
    vocab_size: int
    seq_len: int
    attention_scores: bool = True  # the kernel keeps T×T scores (soft-capping: yes)
    param_shapes: tuple = ()  # every tensor's shape, when a (meta) model was built

    @classmethod
    def from_figures(cls, figures: dict, vocab_size: int, seq_len: int,
                     attention_scores: bool = True) -> "Footprint":
        """From ``backbone.figures()`` alone: nothing is built."""
        depth, width = int(figures["depth"]), int(figures["width"])
        non_embedding = int(figures["non_embedding_params"])
        total = int(figures.get("total_params") or non_embedding + 2 * vocab_size * width)
        block = (non_embedding - width) // depth  # the final norm's gain sits outside the blocks
        heads = int(figures.get("heads") or 1)
        return cls(total, block, total - depth * block, depth, width, heads, vocab_size, seq_len,
                   attention_scores)

    @classmethod
    def from_model(cls, model, vocab_size: int, seq_len: int,
                   attention_scores: bool = True) -> "Footprint":
        """From a built (typically meta-device) model: exact tensor shapes."""
        shapes = tuple(tuple(p.shape) for p in model.parameters())
        total = sum(math.prod(s) for s in shapes)
        blocks = list(model.blocks)
        block = max(sum(p.numel() for p in b.parameters()) for b in blocks)
        in_blocks = sum(p.numel() for b in blocks for p in b.parameters())
        return cls(total, block, total - in_blocks, len(blocks), model.shape.width,
                   model.shape.heads, vocab_size, seq_len, attention_scores, shapes)

    def block_values_per_token(self) -> int:
        """Values one block saves for backward, per token."""
        scores = 2 * self.heads * self.seq_len if self.attention_scores else 0
        return SAVED_VALUES_PER_BLOCK * self.width + scores

    def sharded_numel(self, world: int) -> int:
        """Elements one rank holds when every tensor is sharded on dim 0 over ``world`` ranks."""
        if world == 1:
            return self.total_params
        if not self.param_shapes:
            return math.ceil(self.total_params / world)
        return sum(math.ceil(s[0] / world) * math.prod(s[1:]) if s else 1
                   for s in self.param_shapes)


@attrs.frozen
class Setup:
    strategy: str = attrs.field(default="single", validator=attrs.validators.in_(STRATEGIES))
    world_size: int = attrs.field(default=1, validator=attrs.validators.gt(0))
    micro_batch: int = attrs.field(default=1, validator=attrs.validators.gt(0))
    activation_checkpointing: bool = False
    precision: str = attrs.field(default="bf16", validator=attrs.validators.in_(tuple(DTYPE_BYTES)))

    def __attrs_post_init__(self):
        if self.strategy == "single" and self.world_size != 1:
            raise ValueError("strategy 'single' runs on one device; use ddp or fsdp2")


@attrs.frozen
class MemoryEstimate:
    setup: Setup
    params: int  # bytes per device, each field
    grads: int
    optimizer: int
    activations: int
    buffers: int  # gathered FSDP2 units, DDP buckets

    @property
    def total(self) -> int:
        return self.params + self.grads + self.optimizer + self.activations + self.buffers

    def fits(self, card_bytes: int, usable_fraction: float = USABLE_FRACTION) -> bool:
        return self.total <= card_bytes * usable_fraction

    def as_dict(self) -> dict:
        return {**attrs.asdict(self.setup), "params_bytes": self.params,
                "grads_bytes": self.grads, "optimizer_bytes": self.optimizer,
                "activations_bytes": self.activations, "buffers_bytes": self.buffers,
                "total_bytes": self.total}

    def lines(self) -> list[str]:
        s = self.setup
        head = (f"{s.strategy}, world size {s.world_size}, micro-batch {s.micro_batch}, "
                f"{s.precision}, activation checkpointing {'on' if s.activation_checkpointing else 'off'}")
        rows = [("parameters", self.params), ("gradients", self.grads),
                ("optimizer state", self.optimizer), ("activations", self.activations),
                ("gathered/buffers", self.buffers), ("total per device", self.total)]
        return [head] + [f"  {name:<18} {gib(value):>10}" for name, value in rows]


def gib(n_bytes: float) -> str:
    """Bytes in GiB, or in MiB/KiB when that would round to zero."""
    for unit, size in (("GiB", GIB), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if n_bytes >= size / 10 or unit == "KiB":
            return f"{n_bytes / size:.2f} {unit}"
    raise AssertionError("unreachable")


def activation_bytes(fp: Footprint, setup: Setup) -> int:
    act = DTYPE_BYTES[setup.precision]
    tokens = setup.micro_batch * fp.seq_len
    block = fp.block_values_per_token() * act
    if setup.activation_checkpointing:
        blocks = fp.depth * fp.width * act + block  # block inputs + one block recomputed
    else:
        blocks = fp.depth * block
    head = 2 * fp.width * act + LOGIT_COPIES * fp.vocab_size * 4  # final norm in/out + fp32 logits
    return tokens * (blocks + head)


def estimate(fp: Footprint, setup: Setup) -> MemoryEstimate:
    world = setup.world_size
    if setup.strategy == "fsdp2":
        shard = fp.sharded_numel(world)
        gathered_dtype = DTYPE_BYTES[setup.precision]
        # root unit gathered all step; current + prefetched block params; one block's
        # unsharded gradient and the root's, before reduce-scatter
        gathered = (fp.root_params * 2 + 2 * fp.block_params + fp.block_params) * gathered_dtype
        return MemoryEstimate(setup, shard * MASTER_BYTES, shard * MASTER_BYTES,
                              shard * MASTER_BYTES * OPTIMIZER_MOMENTS,
                              activation_bytes(fp, setup), gathered if world > 1 else 0)
    count = fp.total_params
    buckets = count * MASTER_BYTES if setup.strategy == "ddp" and world > 1 else 0
    return MemoryEstimate(setup, count * MASTER_BYTES, count * MASTER_BYTES,
                          count * MASTER_BYTES * OPTIMIZER_MOMENTS, activation_bytes(fp, setup),
                          buckets)


def min_devices(fp: Footprint, card_bytes: int, batch_size: int, micro_batch: int = 1,
                strategy: str = "fsdp2", activation_checkpointing: bool = True,
                precision: str = "bf16", usable_fraction: float = USABLE_FRACTION,
                max_devices: int = 65536, worlds=None) -> MemoryEstimate | None:
    """The estimate for the smallest world that fits the card, or None if none does.

    The world size must split ``batch_size`` sequences into whole
    micro-batches on every rank (``batch_size % (world × micro_batch) == 0``),
    as the trainer requires.  Only ``fsdp2`` needs less per device as the
    world grows; ``single``/``ddp`` fit on one device or on none.  ``worlds``
    restricts the world sizes tried (e.g. whole nodes), in increasing order.
    """
    def setup(world: int) -> Setup:
        kind = "single" if strategy != "fsdp2" else "fsdp2"
        return Setup(strategy=kind, world_size=world, micro_batch=micro_batch,
                     activation_checkpointing=activation_checkpointing, precision=precision)

    if strategy != "fsdp2":
        one = estimate(fp, setup(1))
        return one if one.fits(card_bytes, usable_fraction) else None
    if not estimate(fp, setup(max_devices)).fits(card_bytes, usable_fraction):
        return None  # even fully sharded, the unsharded part (activations, gathers) is too big
    for world in worlds or range(1, max_devices + 1):
        if batch_size % (world * micro_batch) == 0:
            result = estimate(fp, setup(world))
            if result.fits(card_bytes, usable_fraction):
                return result
    return None
