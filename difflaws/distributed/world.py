"""This process's place in the job: rank, world size, device, process group.

Under ``torchrun`` the environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR)
says where we are; a plain ``difflaws run`` with a distributed strategy gets a
one-process group of its own, so the same code path (and the same checkpoint
format) serves one process and many.
"""

from __future__ import annotations

import os

import attrs
import torch

from difflaws.errors import UserError


@attrs.define
class World:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str | None  # None: no process group (strategy = "none")
    owns_group: bool = False  # we created the group, so we destroy it

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def close(self) -> None:
        if self.owns_group:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()
            self.owns_group = False


def launched_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def pick_backend(requested: str, device: torch.device) -> str:
    if requested == "nccl" and not torch.cuda.is_available():
        raise UserError("distributed.backend = \"nccl\" needs CUDA, and this machine has no CUDA "
                        "device; use backend = \"gloo\" (or \"auto\") on CPU")
    if requested == "nccl" and device.type != "cuda":
        raise UserError(f"distributed.backend = \"nccl\" needs train.device on CUDA, not "
                        f"{device.type!r}; set train.device = \"auto\" or backend = \"gloo\"")
    if requested == "auto":
        return "nccl" if device.type == "cuda" else "gloo"
    return requested


def join(config, device_name: str) -> World:
    """Join (or create) the process group the spec's ``[distributed]`` table asks for."""
    from difflaws.train.setup import resolve_device

    size = launched_world_size()
    if config.strategy == "none":
        if size > 1:
            raise UserError(f"{size} processes were launched but distributed.strategy = \"none\"; "
                            "set distributed.strategy = \"ddp\" or \"fsdp2\" (or launch one "
                            "process)")
        return World(0, 1, 0, resolve_device(device_name), None)
    import torch.distributed as dist

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    backend = pick_backend(config.backend, device)
    if dist.is_initialized():  # a caller (a test, a notebook) set the group up already
        return World(dist.get_rank(), dist.get_world_size(), local_rank, device, backend)
    if "MASTER_ADDR" in os.environ:
        dist.init_process_group(backend)
    else:  # one process, no launcher: an in-memory rendezvous
        dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1)
    return World(dist.get_rank(), dist.get_world_size(), local_rank, device, backend,
                 owns_group=True)
