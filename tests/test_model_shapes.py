"""Shape names, analytic parameter/FLOP figures vs the paper's tables and vs built models."""

import time

import pytest

from difflaws.interfaces import interface_for
from difflaws.plugins import PluginHost
from difflaws.errors import SpecError

V = 131_072
HOST = PluginHost(entry_points=False)

# docs/theory.md §6.1 (sweep) and §6.5 (scaled-up): non-embedding and total parameters as printed
SWEEP = {"L8-D512-H8": (25.2e6, 159e6), "L10-D640-H10": (49.2e6, 217e6),
         "L12-D768-H12": (85.1e6, 286e6), "L16-D1024-H16": (201.6e6, 470e6),
         "L20-D1536-H12": (566.7e6, 969e6)}
SCALED = {"L18-D3072": (2.039e9, 2.84e9), "L19-D3072": (2.152e9, 2.96e9),
          "L34-D4608": (8.666e9, 9.87e9)}


def backbone(**table):
    return HOST.converter.structure({"kind": "transformer", **table}, interface_for("backbone"))


def rel(a, b):
    return abs(a - b) / b


@pytest.mark.parametrize("name", SWEEP)
def test_sweep_shapes_match_paper_within_0_1_percent(name):
    fig = backbone(shape=name).figures(vocab_size=V, seq_len=2048)
    non_emb, total = SWEEP[name]
    # the table prints 3-4 significant figures: allow their rounding on top of 0.1%
    assert rel(fig["non_embedding_params"], non_emb) < 1e-3 + 0.05e6 / non_emb
    assert rel(fig["total_params"], total) < 1e-3 + 0.5e6 / total


@pytest.mark.parametrize("name", SCALED)
def test_scaled_up_shapes_match_paper_within_0_5_percent(name):
    fig = backbone(shape=name).figures(vocab_size=V, seq_len=2048)
    non_emb, total = SCALED[name]
    assert rel(fig["non_embedding_params"], non_emb) < 5e-3
    assert rel(fig["total_params"], total) < 5e-3
    assert fig["head_dim"] == 128


def test_paper_formula_reproduces_the_released_csv_exactly():
    # isoloss.csv rows (docs/theory.md §7) give L20-D1536: non_emb 566662656, total 969315840
    fig = backbone(shape="L20-D1536-H12").figures(vocab_size=V, seq_len=2048)
    assert fig["non_embedding_params_paper"] == 566_662_656
    assert fig["non_embedding_params_paper"] + fig["embedding_params"] == 969_315_840


@pytest.mark.parametrize("name,ratio", [("L8-D512", 1.66), ("L20-D1536", 1.22),
                                        ("L18-D3072", 1.11), ("L34-D4608", 1.07)])
def test_flops_M_over_6P_matches_paper_table(name, ratio):
    fig = backbone(shape=name).figures(vocab_size=V, seq_len=2048)
    assert fig["flops_per_token_M"] / fig["flops_per_token_6P"] == pytest.approx(ratio, abs=0.006)


def test_flops_M_formula_by_hand():
    fig = backbone(shape="L8-D512").figures(vocab_size=V, seq_len=2048)
    assert fig["flops_per_token_M"] == 72 * 8 * 512**2 + 12 * 8 * 512 * 2048


@pytest.mark.parametrize("table", [
    {"shape": "L2-D64"}, {"width": 96, "depth": 3, "head_dim": 32},
    {"shape": "L2-D64", "attention_sink": False}, {"shape": "L2-D64", "conditioning": "adaln"},
    {"width": 64, "depth": 2, "head_dim": 16, "mlp_ratio": 2},
])
def test_analytic_count_equals_built_model(table):
    cfg = backbone(**table, attention="sdpa")
    model = cfg.build(vocab_size=37, seq_len=16)
    fig = cfg.figures(vocab_size=37, seq_len=16)
    counted = sum(p.numel() for p in model.parameters())
    assert counted == fig["total_params"]
    emb = model.embed.weight.numel() + model.head.weight.numel()
    assert counted - emb == fig["non_embedding_params"]


def test_ten_billion_builds_on_meta_quickly_and_matches_count():
    cfg = backbone(shape="L34-D4608")
    start = time.perf_counter()
    model = cfg.build(vocab_size=V, seq_len=2048, meta=True)
    assert time.perf_counter() - start < 10.0
    assert all(p.is_meta for p in model.parameters())
    assert sum(p.numel() for p in model.parameters()) == cfg.figures(V, 2048)["total_params"]
    assert model.max_seq_len is None


def test_meta_build_of_3b_matches_count():
    cfg = backbone(shape="L18-D3072")
    model = cfg.build(vocab_size=V, seq_len=2048, meta=True)
    assert sum(p.numel() for p in model.parameters()) == cfg.figures(V, 2048)["total_params"]


def test_head_dim_rule_and_named_heads():
    assert backbone(shape="L8-D512").figures(V, 2048)["head_dim"] == 64
    assert backbone(shape="L8-D1024").figures(V, 2048)["head_dim"] == 64
    assert backbone(shape="L8-D1536").figures(V, 2048)["head_dim"] == 128
    assert backbone(shape="L8-D512-H4").figures(V, 2048)["head_dim"] == 128
    assert backbone(width=256, depth=2, head_dim=32).figures(V, 2048)["heads"] == 8


def structure_error(table) -> str:
    with pytest.raises(Exception) as info:
        backbone(**table)
    from difflaws.spec.converter import flatten
    return "; ".join(f"{p}: {m}" for p, m in flatten(info.value, None))


@pytest.mark.parametrize("table,key,words", [
    ({"width": 100, "depth": 2, "head_dim": 64}, "width", "not divisible"),
    ({"width": 128, "depth": 0}, "depth", ">"),
    ({"shape": "L0-D512"}, "shape", "depth 0"),
    ({"shape": "big"}, "shape", "unknown shape name"),
    ({"shape": "L2-D100-H3"}, "shape", "not divisible"),
    ({"shape": "L2-D64", "width": 64}, "shape", "not both"),
    ({"shape": "L2-D64", "attention": "flash9"}, "attention.kind", "unknown attention kind"),
    ({"shape": "L2-D64", "attention": "xformers"}, "attention", "soft-cap"),
])
def test_bad_shapes_name_the_key(table, key, words):
    text = structure_error(table)
    assert f"{key}:" in text and words in text, text


def test_spec_errors_through_the_loader(tmp_path):
    from difflaws.engine import load

    spec = tmp_path / "s.toml"
    spec.write_text('[noise]\nkind = "masked"\n[backbone]\nkind = "transformer"\nwidth = 100\n'
                    'depth = 2\n')
    with pytest.raises(SpecError) as info:
        load(spec, host=HOST)
    assert "backbone.width: width 100 is not divisible by head_dim 64" in str(info.value)
