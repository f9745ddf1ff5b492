"""Coordinate check: flat under CompleteP, drifting under SP, on tiny models.

Tolerance: a slope of log2 mean|activation| against log2 width (or depth) of
at most 0.3 in magnitude, i.e. under 23% change per doubling.  SP shows
slopes above 1 (activations more than double per width doubling).
"""

import pytest
import torch

from difflaws.interfaces import interface_for
from difflaws.model.coordcheck import coord_check, plot, slopes
from difflaws.plugins import PluginHost

HOST = PluginHost(entry_points=False)
WIDTHS, DEPTHS = [32, 64, 128], [2, 4, 8]
FLAT = 0.3


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matmuls: threads only add contention
    yield
    torch.set_num_threads(threads)


def run(kind, lr):
    backbone = HOST.converter.structure(
        {"kind": "transformer", "width": 32, "depth": 2, "head_dim": 16, "attention": "sdpa"},
        interface_for("backbone"))
    param = HOST.converter.structure({"kind": kind}, interface_for("parameterization"))
    return coord_check(backbone, param, widths=WIDTHS, depths=DEPTHS, steps=3, lr=lr,
                       vocab_size=64, batch_size=4, seq_len=32)


@pytest.fixture(scope="module")
def completep():
    return run("completep", 0.5)


def test_completep_is_flat_in_width(completep):
    measured = slopes(completep)
    width = {layer: s for (sweep, layer), s in measured.items() if sweep == "width"}
    assert len(width) == 5
    assert all(abs(s) < FLAT for s in width.values()), width


def test_completep_is_flat_in_depth(completep):
    measured = slopes(completep)
    for layer in ("embedding", "attention", "mlp", "logits"):
        assert abs(measured[("depth", layer)]) < FLAT, measured
    # branches scaled by 4/L: the residual stream must not grow with depth (SP's does, below)
    assert measured[("depth", "residual")] < 0.1, measured


def test_standard_is_not_flat():
    measured = slopes(run("standard", 0.01))
    # Adam moves every hidden weight by ~lr, so hidden outputs grow ∝ width after a few steps
    assert max(measured[("width", layer)] for layer in ("attention", "mlp", "residual")) > 1.0
    # with unit residual branches the residual stream grows with depth
    assert measured[("depth", "residual")] > 0.2, measured


def test_training_moved_the_activations(completep):
    last = max(r.step for r in completep)
    assert all(r.mean_abs_delta == 0 for r in completep if r.step == 0)
    assert all(r.mean_abs_delta > 0 for r in completep if r.step == last)


def test_plot_is_written(completep, tmp_path):
    plot(completep, tmp_path / "cc.png")
    assert (tmp_path / "cc.png").stat().st_size > 10_000


@pytest.mark.slow
def test_cli_writes_table_and_plot(tmp_path):
    import csv

    from conftest import REPO, run_cli

    out = tmp_path / "cc"
    result = run_cli("coordcheck", REPO / "tests" / "specs" / "minimal.toml", "--widths", "32,64",
                     "--depths", "1,2", "--steps", "1", "--seq-len", "16", "--out", out,
                     "--set", "backbone.attention=\"sdpa\"")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(open(out / "coordcheck.csv")))
    # 2 widths + 2 depths, steps 0 and 1, 5 layer types
    assert len(rows) == 4 * 2 * 5
    assert (out / "coordcheck.png").stat().st_size > 10_000
    assert "slope of log2 mean|act|" in result.stdout


def test_bad_sweep_lists_are_user_errors():
    from difflaws.commands.coordcheck import _ints
    from difflaws.errors import UserError

    assert _ints("64,128") == [64, 128]
    for text in ("a,b", "", "64,-1"):
        with pytest.raises(UserError):
            _ints(text)
