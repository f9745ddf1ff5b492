"""Multi-process training on CPU (gloo): DDP and FSDP2 against one process, meta-device init,
sharded checkpoints resumed at another world size, export, and the bad-input errors."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch

import distributed_helpers as helpers
from difflaws import engine
from difflaws.distributed import batches, meta_init, world
from difflaws.distributed.checkpoints import check_shapes
from difflaws.distributed.export import export, full_weights
from difflaws.distributed.launch import torchrun_argv, without_nproc
from difflaws.distributed.strategy import Strategy
from difflaws.plugins import PluginHost
from difflaws.errors import SpecError, UserError

REPO = Path(__file__).resolve().parents[1]
LOSS_RTOL = 1e-5  # loss, NELBO and gradient norm: fp32, the same numbers summed in another order
# LaProp divides each gradient element by its running RMS, so an element whose gradient is
# near zero can move by up to a whole step (lr·lr_mult ≈ 9e-3) on the strength of the fp32
# summation order alone: weights are compared by how far training moved each tensor, which
# agrees to 1e-3 (measured: ~5e-5).  A wrong gradient scale would hardly show in the weights
# (LaProp is scale-free) but shows in the gradient norm, compared at LOSS_RTOL.
UPDATE_RTOL = 1e-3


@pytest.fixture(autouse=True)
def one_thread():
    # a loaded 2-core machine: intra-op threads in each of several processes only contend
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# -- pure logic -------------------------------------------------------------------------
def test_split_refuses_partial_micro_batches():
    assert batches.check_split(8, 2, 2) == 4
    assert batches.check_split(8, 0, 4) == 2
    assert batches.check_split(8, 3, 1) == 8  # one process may end on a short micro-batch
    with pytest.raises(UserError, match="cannot share train.batch_size = 8"):
        batches.check_split(8, 0, 3)
    with pytest.raises(UserError, match="not a whole number of train.micro_batch_size = 4"):
        batches.check_split(12, 4, 2)  # 6 rows per rank are 1.5 micro-batches


@pytest.mark.parametrize("micro", [2, 8])
def test_ranks_partition_the_global_batch(micro):
    """Every row of the drawn batch is trained on by exactly one rank, in order, and a
    chunk split between ranks (micro-batch = whole batch) keeps its rows' noise."""
    chunks = []
    for c in range(8 // micro):
        x = torch.arange(c * micro, (c + 1) * micro)[:, None].expand(micro, 3)
        extra = {"z": x * 10, "prefix_len": x[:, 0], "scale": torch.tensor(1.0)}
        chunks.append((x, x + 100, extra))
    seen = []
    for rank in range(4):
        mine = batches.local_chunks(chunks, rank, 4)
        rows = torch.cat([c[0][:, 0] for c in mine])
        assert rows.tolist() == [2 * rank, 2 * rank + 1]
        for x, doc, extra in mine:
            assert torch.equal(doc, x + 100) and torch.equal(extra["z"], x * 10)
            assert torch.equal(extra["prefix_len"], x[:, 0]) and extra["scale"].dim() == 0
        seen += rows.tolist()
    assert seen == list(range(8))


def test_nccl_needs_cuda():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(UserError, match="needs CUDA"):
        world.pick_backend("nccl", torch.device("cpu"))
    assert world.pick_backend("auto", torch.device("cpu")) == "gloo"


def test_strategy_none_refuses_several_processes(monkeypatch, tmp_path):
    monkeypatch.setenv("WORLD_SIZE", "2")
    spec = helpers.tiny_spec(tmp_path / "s.toml")
    with pytest.raises(UserError, match="distributed.strategy"):
        world.join(spec.distributed, "cpu")


def test_launcher_arguments():
    argv = ["run", "s.toml", "--nproc", "4", "--set", "train.steps=3", "--nproc=2"]
    assert without_nproc(argv) == ["run", "s.toml", "--set", "train.steps=3"]
    assert torchrun_argv(2, ["run", "s.toml"]) == [
        "--standalone", "--nproc_per_node=2", "-m", "difflaws", "run", "s.toml"]


def test_stale_run_dir_of_another_strategy(tmp_path):
    host = PluginHost(entry_points=False)
    spec = helpers.tiny_spec(tmp_path / "s.toml")
    engine.open_run_dir(spec, str(tmp_path / "run"), host=host)
    other = helpers.tiny_spec(tmp_path / "s.toml", "distributed.strategy=fsdp2")
    with pytest.raises(SpecError, match="holds a different spec"):
        engine.open_run_dir(other, str(tmp_path / "run"), host=host)


def test_uniform_10b_builds_on_meta():
    """The paper's largest model costs no memory to build: every large tensor is on the meta
    device, and the parameter count is the one the backbone's figures state."""
    spec = engine.load(REPO / "specs" / "uniform_10b.toml", host=PluginHost(entry_points=False))
    model = meta_init.build_on_meta(spec, spec.tokenizer.vocab_size)
    params = list(model.parameters())
    assert sum(p.numel() for p in params) == engine.figures(spec)["total_params"]
    assert all(p.is_meta for p in params if p.numel() > meta_init.SMALL)
    real = sum(p.numel() for p in params if not p.is_meta)
    assert real * 4 < 50e6  # only gains and the like were allocated (< 50 MB)
    assert all(not b.is_meta for b in model.buffers())


# -- training -----------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every run the training tests compare, made once: a one-process reference (strategy
    none); FSDP2 at world size 1 stopped after step 4 (checkpoint at 3); then, in one pair of
    spawned processes, DDP and FSDP2 runs, an FSDP2 run stopped after step 5 (checkpoint at 3)
    and the resumption of the one-process FSDP2 run; finally the two-process run resumed here
    at world size 1."""
    import torch.multiprocessing as mp

    root = tmp_path_factory.mktemp("dist")
    torch.set_num_threads(1)
    spec_path = root / "tiny.toml"
    spec = helpers.tiny_spec(spec_path)
    fsdp = ["distributed.strategy=fsdp2"]
    out = {"reference": helpers.train_loop(spec, root / "reference")}
    out["fsdp_w1_killed"] = helpers.train_loop(engine.load(spec_path, fsdp), root / "one_to_two",
                                               stop_after=4)
    jobs = [("ddp", str(spec_path), ["distributed.strategy=ddp"], str(root / "ddp"), None),
            ("fsdp", str(spec_path), fsdp, str(root / "fsdp"), None),
            ("fsdp_w2_killed", str(spec_path), fsdp, str(root / "two_to_one"), 5),
            ("one_to_two", str(spec_path), fsdp, str(root / "one_to_two"), None)]
    os.environ["OMP_NUM_THREADS"] = "1"
    mp.spawn(helpers.two_process_worker, args=(free_port(), jobs, str(root)), nprocs=2)
    for name, *_ in jobs:
        out[name] = torch.load(root / f"{name}.pt", weights_only=True)
    out["two_to_one"] = helpers.train_loop(engine.load(spec_path, fsdp), root / "two_to_one")
    out["root"] = root
    return out


def assert_same_run(run, reference, steps):
    for step in steps:
        assert run["losses"][step] == pytest.approx(reference["losses"][step], rel=LOSS_RTOL), step
    for name, ref in reference["final"].items():
        moved = (ref - reference["initial"][name]).norm()
        assert moved > 0, name
        assert (run["final"][name] - ref).norm() <= UPDATE_RTOL * moved, name


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_two_processes_match_one(runs, strategy):
    """Same global batch, same seed: the loss curve and final weights of a 2-process run
    are the one-process run's, up to fp32 summation order."""
    run = runs[strategy]
    assert run["world_size"] == 2 and run["start"] == 0
    assert_same_run(run, runs["reference"], range(1, 7))


@pytest.mark.slow
def test_meta_init_equals_single_process_init(runs):
    """Built on meta, sharded over 1 or 2 ranks, materialised: bitwise the one-process init."""
    for name in ("fsdp", "fsdp_w1_killed"):
        for key, ref in runs["reference"]["initial"].items():
            assert torch.equal(runs[name]["initial"][key], ref), (name, key)


@pytest.mark.slow
def test_fsdp2_resumes_at_another_world_size(runs):
    """Killed after a checkpoint, resumed with another number of processes: the curve
    continues from the checkpoint as if nothing had happened (2 → 1 and 1 → 2)."""
    ref = runs["reference"]
    for killed, resumed in (("fsdp_w2_killed", "two_to_one"), ("fsdp_w1_killed", "one_to_two")):
        assert runs[resumed]["start"] == 3
        assert runs[killed]["world_size"] != runs[resumed]["world_size"]
        assert_same_run(runs[resumed], ref, range(4, 7))


@pytest.mark.slow
def test_activation_checkpointing_changes_no_number(runs, tmp_path):
    """Recomputing each block in backward (FSDP2, one process) gives the same training."""
    spec = helpers.tiny_spec(tmp_path / "s.toml", "distributed.strategy=fsdp2",
                             "distributed.activation_checkpointing=true", "train.steps=3")
    run = helpers.train_loop(spec, tmp_path / "run")
    for step in range(1, 4):
        want = runs["reference"]["losses"][step]
        assert run["losses"][step] == pytest.approx(want, rel=LOSS_RTOL)


@pytest.mark.slow
def test_export_gathers_sharded_weights(runs, tmp_path):
    from safetensors.torch import load_file

    from difflaws.checkpoint.io import listing

    # atomic saves leave no temporary directory behind, and only the newest two are kept
    assert [p.name for p in listing(runs["root"] / "fsdp")] == ["step-00000006", "step-00000003"]
    assert not list((runs["root"] / "fsdp" / "checkpoints").glob(".tmp-*"))
    out = export(runs["root"] / "fsdp", tmp_path / "model.safetensors")
    weights = load_file(out)
    assert set(weights) == set(runs["fsdp"]["final"])
    for name, value in runs["fsdp"]["final"].items():
        assert torch.equal(weights[name], value), name
    step, single = full_weights(runs["root"] / "reference")  # a single-process checkpoint
    assert step == 6
    assert torch.equal(single["head.weight"], runs["reference"]["final"]["head.weight"])


@pytest.mark.slow
def test_resume_refuses_another_model_shape(runs, tmp_path):
    from difflaws.checkpoint.io import listing

    spec = helpers.tiny_spec(tmp_path / "s.toml", "backbone.width=48")
    wider = spec.backbone.build(vocab_size=spec.tokenizer.vocab_size, seq_len=32, meta=True)
    with pytest.raises(UserError, match="another shape"):  # sharded checkpoint
        check_shapes(listing(runs["root"] / "fsdp")[0], wider)
    single = Strategy(world.World(0, 1, 0, torch.device("cpu"), None), spec)
    with pytest.raises(UserError, match="another shape"):  # single-process checkpoint
        single.load(runs["root"] / "reference", wider, optimizer=None)
