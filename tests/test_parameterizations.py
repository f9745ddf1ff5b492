"""CompleteP's defaults reproduce the paper's parameter-group table; SP is flat; switching is a spec change."""

import math

import attrs
import pytest

from difflaws.interfaces import BackboneConfig, ParameterizationConfig, default_of
from difflaws.plugins import PluginHost

HOST = PluginHost(entry_points=False)


def structure(category, table):
    return HOST.structure(category, table)


def records_of(shape, param_table, **backbone):
    cfg = structure("backbone", {"kind": "transformer", "shape": shape, **backbone})
    model = cfg.build(vocab_size=1000, seq_len=64, meta=True,
                      parameterization=structure("parameterization", param_table).build())
    return model, {r.name: r for r in model.param_records()}


def recs_numel(model, name):
    return dict(model.named_parameters())[name].numel()


@pytest.mark.parametrize("depth,width", [(8, 512), (12, 768), (20, 1536)])
def test_completep_reproduces_the_paper_table(depth, width):
    # docs/theory.md §3 (groups) and §4 (gidd-easydel column), written out with the paper's absolute numbers
    model, recs = records_of(f"L{depth}-D{width}", {"kind": "completep"})
    eps = 1e-8 / (width * depth)
    hidden = [n for n in recs if n.endswith((".qkv.weight", ".o.weight", ".up.weight", ".down.weight"))]
    assert len(hidden) == 4 * depth
    assert sum(recs_numel(model, n) for n in hidden) == 12 * width**2 * depth
    for name in hidden:
        r = recs[name]
        assert (r.group, r.wd_mult) == ("hidden", width)
        assert r.init_std == pytest.approx(0.4 / math.sqrt(width))
        assert r.lr_mult == pytest.approx(1 / width)
        assert r.eps == pytest.approx(eps)
    aux = {n: r for n, r in recs.items() if n not in hidden}
    groups = {r.group for r in aux.values()}
    assert groups == {"norm", "bias", "sink", "embedding", "head"}
    for r in aux.values():
        assert r.lr_mult == pytest.approx(0.02) and r.wd_mult == 0.0
        assert r.eps == pytest.approx(eps)
    assert recs["embed.weight"].init_std == 0.02
    assert recs["head.weight"].init_std == 0.0  # zero-initialised head
    assert all(aux[n].init_std == 0.0 for n in aux if n not in ("embed.weight",))
    assert sum(r.group == "norm" for r in recs.values()) == 4 * depth + 1  # 2 pre-norms, q/k, final
    assert model.blocks[0].residual_mult == pytest.approx(4 / depth)
    assert model.output_mult == pytest.approx(512 / width)


def test_standard_is_width_and_depth_independent():
    for shape in ("L2-D64", "L6-D256"):
        model, recs = records_of(shape, {"kind": "standard"})
        assert {r.lr_mult for r in recs.values()} == {1.0}
        assert {r.eps for r in recs.values()} == {None}
        assert recs["blocks.0.attn.qkv.weight"].init_std == 0.02
        assert model.blocks[0].residual_mult == 1.0 and model.output_mult == 1.0


def test_completep_alpha_half_depth_rules():
    # α = 0.5: residual (L_base/L)^½, hidden and aux LR × m_L^(−½), ε ∝ 1/(d·L_base·m_L^½)
    model, recs = records_of("L16-D256", {"kind": "completep", "alpha": 0.5})
    m_l = 16 / 4
    assert model.blocks[0].residual_mult == pytest.approx(m_l**-0.5)
    assert recs["blocks.0.mlp.up.weight"].lr_mult == pytest.approx(1 / 256 * m_l**-0.5)
    assert recs["blocks.0.attn_norm.gain"].lr_mult == pytest.approx(0.02 * m_l**-0.5)
    assert recs["embed.weight"].lr_mult == pytest.approx(0.02)
    assert recs["head.weight"].eps == pytest.approx(1e-8 / (256 * 4 * m_l**0.5))


def test_adaln_matrices_are_hidden_but_zero_initialised():
    _, recs = records_of("L2-D64", {"kind": "completep"}, conditioning="adaln")
    r = recs["blocks.0.modulation.proj.weight"]
    assert (r.group, r.init_std, r.lr_mult) == ("hidden", 0.0, pytest.approx(1 / 64))


@attrs.frozen(kw_only=True)
class ModelSpec:
    """The two tables that matter here, structured exactly as the full Spec structures them."""

    backbone: BackboneConfig
    parameterization: ParameterizationConfig = default_of("parameterization")


def test_switching_is_a_spec_change(tmp_path):
    from difflaws.spec.load import load_spec

    path = tmp_path / "s.toml"
    path.write_text('[backbone]\nkind = "transformer"\nshape = "L2-D64"\n')
    built = []
    for overrides in ([], ["parameterization.kind=standard"]):
        spec = load_spec(path, overrides, host=HOST, cls=ModelSpec)
        built.append(spec.backbone.build(vocab_size=100, seq_len=32, meta=True,
                                         parameterization=spec.parameterization.build()))
    completep, standard = built
    assert completep.output_mult == 512 / 64 and standard.output_mult == 1.0
    assert completep.blocks[0].residual_mult == 2.0 and standard.blocks[0].residual_mult == 1.0


def test_bad_parameterization_values_name_the_key():
    with pytest.raises(Exception) as info:
        structure("parameterization", {"kind": "completep", "alpha": 2.0})
    from difflaws.spec.converter import flatten
    assert any(path == "alpha" for path, _ in flatten(info.value, None))
