"""The convmixer backbone as a component: its figures, its builds, its visibility rule.

Sizes are checked against a built model's tensors, FLOPs against torch's own
matmul counter, and the receptive field against which logits a token change
actually moves.
"""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from difflaws.interfaces import interface_for
from difflaws.model.roles import ROLES, role_of
from difflaws.plugins import PluginHost
from difflaws.spec.converter import flatten
from difflaws_example_backbone import plugin
from difflaws_example_backbone.plugin import ConvMixerConfig

HOST = PluginHost(entry_points=False)
HOST.add(plugin, name="example-backbone")
V = 40


def parameterization(kind="completep"):
    return HOST.structure("parameterization", kind).build()


def build(config, kind="standard", **kwargs):
    return config.build(vocab_size=V, parameterization=parameterization(kind), **kwargs)


@pytest.mark.parametrize("options", [{}, {"width": 24, "depth": 3, "kernel_size": 3},
                                     {"width": 16, "depth": 1, "kernel_size": 1, "mlp_ratio": 2}])
def test_figures_count_exactly_what_is_built(options):
    config = ConvMixerConfig(**options)
    model = build(config)
    counts = {name: p.numel() for name, p in model.named_parameters()}
    embedding = counts["embed.weight"] + counts["head.weight"]
    figures = config.figures(vocab_size=V, seq_len=64)
    assert figures["non_embedding_params"] == sum(counts.values()) - embedding
    assert figures["total_params"] == sum(counts.values())
    assert figures["embedding_params"] == embedding
    assert figures["flops_per_token_6P"] == 6 * figures["non_embedding_params"]


def test_meta_build_allocates_nothing_and_counts_the_same():
    config = ConvMixerConfig(width=64, depth=2)
    model = build(config, meta=True)
    assert all(p.is_meta for p in model.parameters())
    model.init_weights(torch.Generator().manual_seed(0))  # a no-op on meta, not an error
    assert sum(p.numel() for p in model.parameters()) == config.figures(V, 32)["total_params"]


def test_flops_per_token_match_the_matmuls_torch_counts():
    """FlopCounterMode counts matmuls (forward 2, backward 4 FLOPs per weight per token);
    the head is excluded from M and the depthwise taps (elementwise ops torch does not
    count) are added by hand: 6 FLOPs per tap per token."""
    config = ConvMixerConfig(width=32, depth=2, kernel_size=5)
    model = build(config)
    tokens = torch.randint(0, V, (2, 16))
    with FlopCounterMode(display=False) as counter:
        model(tokens).sum().backward()
    per_token = counter.get_total_flops() / tokens.numel()
    head = 6 * config.width * V
    taps = 6 * config.depth * config.kernel_size * config.width
    assert per_token - head + taps == config.figures(V, 16)["flops_per_token_M"]


def test_every_parameter_has_a_role_and_a_record():
    model = build(ConvMixerConfig(width=32, depth=2), kind="completep")
    records = {r.name: r for r in model.param_records()}
    assert set(records) == {name for name, _ in model.named_parameters()}
    assert all(role_of(p) in ROLES for p in model.parameters())
    # the depthwise kernel has fan-in k at any width: CompleteP treats it as an input
    assert records["blocks.0.mix.weight"].group == "embedding"
    assert records["blocks.0.mlp.up.weight"].group == "hidden"


def test_seeded_init_is_reproducible_and_follows_the_records():
    model = build(ConvMixerConfig(width=32, depth=2), kind="completep")
    model.init_weights(torch.Generator().manual_seed(0))
    first = {k: v.clone() for k, v in model.state_dict().items()}
    model.init_weights(torch.Generator().manual_seed(0))
    assert all(torch.equal(first[k], v) for k, v in model.state_dict().items())
    model.init_weights(torch.Generator().manual_seed(1))
    assert not torch.equal(first["embed.weight"], model.embed.weight)
    for record in model.param_records():
        if record.init_std == 0.0:
            assert torch.count_nonzero(dict(model.named_parameters())[record.name]) == 0


def test_a_token_moves_only_the_logits_within_the_receptive_field():
    config = ConvMixerConfig(width=16, depth=2, kernel_size=3)
    model = build(config)
    reach = (config.figures(V, 32)["receptive_field"] - 1) // 2  # 2 each side
    tokens = torch.randint(0, V, (1, 32))
    changed = tokens.clone()
    changed[0, 10] = (tokens[0, 10] + 1) % V
    with torch.no_grad():
        moved = (model(tokens) - model(changed)).abs().amax(-1)[0] > 0
    assert moved.nonzero().flatten().tolist() == list(range(10 - reach, 10 + reach + 1))


def test_documents_and_clean_prefixes_are_respected():
    model = build(ConvMixerConfig(width=16, depth=3, kernel_size=5))
    tokens = torch.randint(0, V, (1, 24))
    doc_ids = torch.tensor([[0] * 12 + [1] * 12])
    other = tokens.clone()
    other[0, 12:15] = (tokens[0, 12:15] + 1) % V  # edit the second document
    with torch.no_grad():
        a, b = model(tokens, doc_ids=doc_ids), model(other, doc_ids=doc_ids)
    assert torch.equal(a[0, :12], b[0, :12]) and not torch.equal(a[0, 12:], b[0, 12:])
    prefix = torch.tensor([8])
    noisy = tokens.clone()
    noisy[0, 8:11] = (tokens[0, 8:11] + 1) % V  # edit just past the clean prefix
    with torch.no_grad():
        a, b = model(tokens, prefix_len=prefix), model(noisy, prefix_len=prefix)
    assert torch.equal(a[0, :8], b[0, :8])  # the prefix never reads the noisy part
    assert not torch.equal(a[0, 8:], b[0, 8:])


def test_gradients_reach_every_parameter():
    model = build(ConvMixerConfig(width=16, depth=2), kind="standard")  # non-zero head
    model(torch.randint(0, V, (2, 16))).logsumexp(-1).mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_resized_and_bad_shapes():
    config = HOST.converter.structure({"kind": "convmixer", "width": 32, "depth": 2,
                                       "kernel_size": 5}, interface_for("backbone"))
    resized = config.resized(64, 8)
    assert (resized.width, resized.depth, resized.kernel_size) == (64, 8, 5)
    with pytest.raises(Exception) as bad:
        HOST.structure("backbone", {"kind": "convmixer", "kernel_size": 4})
    ((path, message),) = flatten(bad.value, None)
    assert path == "kernel_size" and "even" in message
