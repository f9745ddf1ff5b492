"""Build a model without allocating it, shard it, then give each rank its exact weights.

The backbone is built on the meta device, except tensors small enough to be
buffers or gains (under ``SMALL``), which are computed for real so that
values fixed at construction (e.g. sinusoid frequencies) survive.  After
sharding and ``to_empty``, every parameter is drawn exactly as
``Transformer.init_weights`` draws it in a single process, from the same
seeded CPU generator in the same order, one whole tensor at a time, and each
rank keeps its shard: W ranks hold, between them, bitwise the weights of a
one-process run with the same seed.
"""

from __future__ import annotations

import torch
from torch.overrides import TorchFunctionMode

SMALL = 1 << 16  # elements; real-valued below this at build time


class _SmallTensorsReal(TorchFunctionMode):
    """Re-create small meta-device factory results on the CPU (the build's own
    ``with torch.device("meta")`` passes its device through here)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if (isinstance(out, torch.Tensor) and out.is_meta and out.numel() <= SMALL
                and str(kwargs.get("device")) == "meta"):
            return func(*args, **{**kwargs, "device": "cpu"})
        return out


def build_on_meta(spec, vocab_size: int):
    """The backbone with every large tensor on the meta device; small ones real on the CPU."""
    from difflaws.train.setup import backbone_options

    with _SmallTensorsReal():
        return spec.backbone.build(vocab_size=vocab_size, seq_len=spec.train.seq_len,
                                   parameterization=spec.parameterization.build(),
                                   device="cpu", meta=True, **backbone_options(spec))


def keep_aside(model) -> tuple[dict, dict]:
    """Copies of the real buffers and parameters a meta build holds, by name."""
    buffers = {n: b.detach().clone() for n, b in model.named_buffers() if not b.is_meta}
    params = {n: p.detach().clone() for n, p in model.named_parameters() if not p.is_meta}
    return buffers, params


def draw(shape, std: float, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    # the two branches of init_weights: in-place normal_ on the generator's device, else randn·std
    # (they differ in the last bit for tensors under 16 elements)
    if device.type == generator.device.type:
        return torch.empty(shape, device=generator.device).normal_(0.0, std, generator=generator)
    return torch.randn(shape, generator=generator, device=generator.device) * std


@torch.no_grad()
def initialise(model, records, generator: torch.Generator, built_buffers: dict,
               built_params: dict, device: torch.device) -> None:
    """Fill a materialised (possibly sharded) model as a one-process init on ``device`` would."""
    from torch.distributed.tensor import DTensor, distribute_tensor

    params = dict(model.named_parameters())
    for record in records:
        p = params[record.name]
        if record.init_std is None:  # "as built": only knowable if it was small enough to build
            if record.name not in built_params:
                raise RuntimeError(f"{record.name}: an 'as built' initialisation (init_std None) "
                                   "cannot be recovered after a meta-device build")
            full = built_params[record.name]
        elif record.init_std == 0.0:
            full = None
        else:
            full = draw(tuple(p.shape), record.init_std, generator, device)
        local = p.to_local() if isinstance(p, DTensor) else p
        if full is None:
            local.zero_()
        elif isinstance(p, DTensor):
            shard = distribute_tensor(full, p.device_mesh, p.placements, src_data_rank=None)
            local.copy_(shard.to_local())
        else:
            local.copy_(full)
    buffers = dict(model.named_buffers())
    for name, value in built_buffers.items():
        buffers[name].copy_(value)
    missing = [n for n, b in buffers.items() if n not in built_buffers]
    if missing:
        raise RuntimeError(f"buffers {missing[:3]} were too large to compute at build time; "
                           "raise difflaws.distributed.meta_init.SMALL")
