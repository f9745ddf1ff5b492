"""CUDA paths of distributed training: NCCL, bf16 FSDP2 over fp32 master weights, xformers
attention inside FSDP2.  Skipped without CUDA (run them with ``pytest -m gpu``)."""

from __future__ import annotations

import pytest
import torch

import distributed_helpers as helpers
from difflaws.builtins.attention import xformers_importable

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

ATTENTION = "xformers" if xformers_importable() else "sdpa"
GPU = ["train.device=cuda", "backbone.attn_softcap=0", f"backbone.attention={ATTENTION}"]
BF16_FSDP2 = GPU + ["distributed.strategy=fsdp2", "distributed.backend=nccl",
                    "train.precision=bf16", "distributed.activation_checkpointing=true",
                    "distributed.compile_blocks=true"]


def test_bf16_fsdp2_on_nccl_follows_fp32(tmp_path):
    """One GPU, NCCL, bf16 compute and reduction, recomputed and compiled blocks: master
    weights stay fp32 and the loss curve
    stays within bf16 noise (2%, ~3 bf16 ulps of accumulated rounding) of an fp32 run."""
    reference = helpers.train_loop(helpers.tiny_spec(tmp_path / "a.toml", *GPU), tmp_path / "fp32")
    run = helpers.train_loop(helpers.tiny_spec(tmp_path / "b.toml", *BF16_FSDP2), tmp_path / "bf16")
    assert all(p.dtype == torch.float32 for p in run["final"].values())
    for step in range(1, 7):
        assert run["losses"][step][0] == pytest.approx(reference["losses"][step][0], rel=2e-2)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA devices")
def test_two_gpus_nccl_fsdp2_match_one(tmp_path):
    import torch.multiprocessing as mp

    from test_distributed import free_port

    fp32 = GPU + ["distributed.backend=nccl"]
    spec_path = tmp_path / "s.toml"
    reference = helpers.train_loop(helpers.tiny_spec(spec_path, *GPU), tmp_path / "one")
    jobs = [("fsdp", str(spec_path), fp32 + ["distributed.strategy=fsdp2"], str(tmp_path / "two"),
             None)]
    mp.spawn(helpers.two_process_worker, args=(free_port(), jobs, str(tmp_path), "nccl"), nprocs=2)
    run = torch.load(tmp_path / "fsdp.pt", weights_only=True)
    for step in range(1, 7):  # TF32 and NCCL's reduction order: looser than on CPU
        assert run["losses"][step][0] == pytest.approx(reference["losses"][step][0], rel=1e-3)
