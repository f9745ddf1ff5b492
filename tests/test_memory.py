"""The memory planner: internally consistent byte counts, checked against real tensors."""

import math
from pathlib import Path

import pytest
import torch

from difflaws.interfaces import interface_for
from difflaws.engine import figures, load
from difflaws.plan.devices import parse_bytes
from difflaws.plan.memory import Footprint, Setup, estimate, min_devices
from difflaws.plugins import PluginHost
from difflaws.errors import UserError

SPECS = Path(__file__).resolve().parents[1] / "specs"


@pytest.fixture(scope="module")
def host():
    return PluginHost(entry_points=False)


@pytest.fixture(scope="module")
def ten_b(host):
    """specs/uniform_10b.toml built on the meta device (nothing allocated)."""
    spec = load(SPECS / "uniform_10b.toml", host=host)
    V, T = spec.tokenizer.vocab_size, spec.train.seq_len
    model = spec.backbone.build(vocab_size=V, seq_len=T, meta=True)
    assert all(p.is_meta for p in model.parameters())
    return spec, model, Footprint.from_model(model, V, T), Footprint.from_figures(figures(spec), V, T)


def test_meta_model_agrees_with_the_figures(ten_b):
    spec, model, built, analytic = ten_b
    count = sum(p.numel() for p in model.parameters())
    assert built.total_params == count == analytic.total_params
    assert built.block_params == analytic.block_params
    assert built.root_params == analytic.root_params
    assert count == pytest.approx(9.87e9, rel=0.001)  # docs/theory.md §6.5


@pytest.mark.parametrize("strategy, world", [("single", 1), ("ddp", 4)])
def test_replicated_bytes_are_count_times_dtype(ten_b, strategy, world):
    _, model, fp, _ = ten_b
    count = sum(p.numel() for p in model.parameters())
    est = estimate(fp, Setup(strategy=strategy, world_size=world))
    assert est.params == count * 4  # fp32 master weights
    assert est.grads == count * 4
    assert est.optimizer == count * 4 * 2  # two fp32 moments
    assert est.buffers == (count * 4 if strategy == "ddp" else 0)


@pytest.mark.parametrize("world", [2, 3, 8, 48])
def test_fsdp2_shards_add_up_to_the_model(ten_b, world):
    """Per-rank shard × world = count, plus the dim-0 padding FSDP2 adds, in fp32."""
    _, model, fp, _ = ten_b
    padding = sum((math.ceil(p.shape[0] / world) * world - p.shape[0]) * p[0].numel()
                  for p in model.parameters())
    est = estimate(fp, Setup(strategy="fsdp2", world_size=world, activation_checkpointing=True))
    count = fp.total_params
    assert est.params * world == (count + padding) * 4
    assert est.optimizer == 2 * est.params
    # the gathered units are bf16 copies of whole blocks and of the root
    assert est.buffers == (2 * fp.root_params + 3 * fp.block_params) * 2
    if world == 2:
        assert padding == 0 and est.params * 2 == count * 4


def saved_bytes_per_token(host, shape, seq, batch=1):
    """Bytes of the tensors one block saves for backward, counted by autograd's hooks."""
    from difflaws.model.masks import AttentionMask
    from difflaws.model.rope import rope_angles

    cfg = host.converter.structure({"kind": "transformer", "shape": shape,
                                    "attention": {"kind": "sdpa"}}, interface_for("backbone"))
    torch.manual_seed(0)
    model = cfg.build(vocab_size=64, seq_len=seq)
    width, head_dim = cfg.resolved_shape().width, cfg.resolved_shape().head_dim
    h = torch.randn(batch, seq, width, requires_grad=True)
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved = {}

    def pack(t):
        if t.untyped_storage().data_ptr() not in weights:
            saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model.blocks[0](h, AttentionMask(seq, None, None), rope_angles(seq, head_dim, 1e4, "cpu"))
    return sum(saved.values()) / (batch * seq), cfg.figures(vocab_size=64, seq_len=seq)


@pytest.mark.parametrize("shape, seq", [("L1-D64", 64), ("L1-D256", 128), ("L1-D512", 256)])
def test_block_activations_match_saved_tensors(host, shape, seq):
    """The planner's per-block activation count against what autograd really keeps (fp32)."""
    measured, figs = saved_bytes_per_token(host, shape, seq, batch=2)
    fp = Footprint.from_figures(figs, 64, seq)
    assert fp.block_values_per_token() * 4 == pytest.approx(measured, rel=0.1)


def test_activation_scaling(ten_b):
    _, _, fp, _ = ten_b
    one = estimate(fp, Setup(micro_batch=1)).activations
    assert estimate(fp, Setup(micro_batch=3)).activations == 3 * one
    ckpt = estimate(fp, Setup(micro_batch=1, activation_checkpointing=True)).activations
    assert ckpt < one / 4  # 34 blocks: only their inputs plus one recomputed block stay
    assert estimate(fp, Setup(micro_batch=1, precision="fp32")).activations > one


def test_min_devices_is_the_smallest_world_that_fits(ten_b):
    _, _, fp, _ = ten_b
    card = parse_bytes("80GB")
    best = min_devices(fp, card, batch_size=3072)
    assert best is not None and best.fits(card)
    for world in range(1, best.setup.world_size):
        if 3072 % world == 0:
            smaller = estimate(fp, Setup("fsdp2", world, 1, True))
            assert not smaller.fits(card)
    # a world must split the batch into whole micro-batches
    odd = min_devices(fp, card, batch_size=4096)
    assert 4096 % odd.setup.world_size == 0
    assert odd.setup.world_size >= best.setup.world_size


def test_no_fit(ten_b):
    _, _, fp, _ = ten_b
    assert min_devices(fp, parse_bytes("80GB"), 3072, strategy="ddp") is None
    assert min_devices(fp, parse_bytes("2GB"), 3072) is None  # unsharded part alone is larger


@pytest.mark.parametrize("text, value", [("80GB", 80 * 10 ** 9), ("96GiB", 96 * 2 ** 30),
                                         ("1.5TB", 1.5e12), ("512MiB", 2 ** 29)])
def test_parse_bytes(text, value):
    assert parse_bytes(text) == value


@pytest.mark.parametrize("bad", ["", "eighty", "80XB", "-1GB", "0GB"])
def test_parse_bytes_rejects(bad):
    with pytest.raises(UserError, match="--gpu-mem"):
        parse_bytes(bad)


def test_single_strategy_needs_world_one():
    with pytest.raises(ValueError):
        Setup(strategy="single", world_size=2)
