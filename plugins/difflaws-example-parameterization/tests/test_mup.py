"""The mup parameterization as a component: its rules, a model built with them, a coordcheck.

Expected numbers are computed from the formulas in plugin.py's docstring,
written out here at a width (64) four times below the base width (256).
"""

import math

import pytest
import torch

from difflaws.interfaces import ParameterizationConfig, interface_for
from difflaws.model.coordcheck import coord_check, slopes
from difflaws.model.roles import ROLES
from difflaws.plugins import PluginHost
from difflaws_example_parameterization import plugin
from difflaws_example_parameterization.plugin import MuPConfig

HOST = PluginHost(entry_points=False)
HOST.add(plugin, name="example-parameterization")
WIDTH, BASE = 64, 256


def records(**options):
    mup = MuPConfig(base_width=BASE, **options).build()
    return {role: mup.record(f"p.{role}", role, (WIDTH, WIDTH), width=WIDTH, depth=3)
            for role in ROLES}


def test_every_role_follows_the_rules():
    r = records(hidden_init_scale=0.5, embedding_init_std=0.1, head_init_std=0.01)
    assert (r["hidden"].init_std, r["hidden"].lr_mult, r["hidden"].wd_mult) == (0.5 / 8, 4.0, 0.25)
    assert (r["modulation"].init_std, r["modulation"].lr_mult, r["modulation"].group) == \
        (0.0, 4.0, "hidden")
    assert (r["embedding"].init_std, r["embedding"].lr_mult, r["embedding"].wd_mult) == (0.1, 1, 0)
    assert (r["head"].init_std, r["head"].lr_mult, r["head"].wd_mult) == (0.01, 1.0, 0.0)
    for role in ("norm", "bias", "sink"):
        assert (r[role].init_std, r[role].lr_mult, r[role].wd_mult, r[role].group) == \
            (0.0, 1.0, 0.0, role)
    assert all(rec.eps is None for rec in r.values())  # the optimizer's own ε


def test_multipliers_scale_the_logits_by_width_and_nothing_by_depth():
    mup = MuPConfig(base_width=BASE).build()
    for depth in (1, 4, 32):
        m = mup.multipliers(width=WIDTH, depth=depth)
        assert (m.output, m.residual, m.embedding) == (4.0, 1.0, 1.0)
    assert mup.multipliers(width=BASE, depth=2).output == 1.0  # μP is SP at the base width


def test_unknown_role_is_refused():
    with pytest.raises(ValueError, match="no rule for parameter role 'gate'"):
        MuPConfig().build().record("w", "gate", (1,), width=8, depth=1)


def test_coordcheck_lr_is_its_own():
    assert MuPConfig().coordcheck_defaults() == {"lr": 0.005}
    assert ParameterizationConfig.coordcheck_defaults(MuPConfig()) != {"lr": 0.005}


def test_a_transformer_is_initialised_as_the_records_say():
    backbone = HOST.converter.structure(
        {"kind": "transformer", "width": WIDTH, "depth": 2, "head_dim": 16, "attention": "sdpa"},
        interface_for("backbone"))
    model = backbone.build(vocab_size=50, parameterization=MuPConfig(base_width=BASE).build())
    model.init_weights(torch.Generator().manual_seed(0))
    params = dict(model.named_parameters())
    hidden = [r for r in model.param_records() if r.group == "hidden"]
    assert hidden and all(r.lr_mult == 4.0 for r in hidden)
    for r in hidden:  # sample std of n normals: relative standard error 1/√(2n)
        w = params[r.name]
        assert r.init_std == 1 / math.sqrt(WIDTH)
        assert abs(w.std().item() / r.init_std - 1) < 5 / math.sqrt(2 * w.numel()), r.name
    assert torch.count_nonzero(model.head.weight) == 0
    assert model.output_mult == 4.0


@pytest.fixture(scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matmuls: threads only add contention
    yield
    torch.set_num_threads(threads)


def width_slopes(kind):
    backbone = HOST.converter.structure(
        {"kind": "transformer", "width": 32, "depth": 2, "head_dim": 16, "attention": "sdpa"},
        interface_for("backbone"))
    param = HOST.converter.structure({"kind": kind}, interface_for("parameterization"))
    rows = coord_check(backbone, param, widths=[32, 64, 128], depths=[2], steps=3, lr=0.005,
                       vocab_size=64, batch_size=4, seq_len=32)
    return {layer: s for (sweep, layer), s in slopes(rows).items() if sweep == "width"}


@pytest.mark.slow  # ~10 s on a loaded 2-core machine, most of it torch's first-use warm-up
def test_activations_are_flat_in_width_where_standard_drifts(one_thread):
    """Slope of log2 mean|activation| vs log2 width after 3 Adam steps: |slope| < 0.3
    (under 23% per doubling) for μP; SP's hidden outputs grow about ∝ width."""
    mup, standard = width_slopes("mup"), width_slopes("standard")
    assert len(mup) == 5 and all(abs(s) < 0.3 for s in mup.values()), mup
    assert max(standard[k] for k in ("attention", "mlp", "residual")) > 1.0, standard
