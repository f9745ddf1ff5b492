"""Sweep specs: grid expansion, the LR-per-batch rule, member names, validation errors."""

import textwrap
from pathlib import Path

import pytest

from difflaws.plugins import PluginHost
from difflaws.errors import SpecError
from difflaws.spec.load import parse_override
from difflaws.sweep.load import load_sweep
from difflaws.sweep.members import literal

BASE = (Path(__file__).parent / "specs" / "tiny_markov.toml").read_text()


@pytest.fixture(scope="module")
def host():
    return PluginHost(entry_points=False)


def write(tmp_path, sweep: str, base: str = BASE):
    (tmp_path / "specs").mkdir(exist_ok=True)
    (tmp_path / "specs" / "base.toml").write_text(base)
    path = tmp_path / "specs" / "sweeps" / "s.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(textwrap.dedent(sweep))
    return path


def test_grid_is_the_product_of_axes(tmp_path, host):
    path = write(tmp_path, """\
        base_spec = "../base.toml"
        [axes]
        "backbone.shape" = ["L1-D32", "L2-D32", "L1-D64"]
        optimizer.lr = [0.1, 0.3]
        """)
    sweep = load_sweep(path, host=host)
    assert len(sweep.members) == 6
    combos = {(m.values["backbone.shape"], m.values["optimizer.lr"]) for m in sweep.members}
    assert len(combos) == 6
    assert sweep.spec.name == "s" and sweep.directory.as_posix().endswith("sweeps/s")
    # every member went through the normal spec loader with its overrides
    for member, spec in zip(sweep.members, sweep.run_specs):
        assert spec.backbone.shape == member.values["backbone.shape"]
        assert spec.optimizer.lr == member.values["optimizer.lr"]


def test_lr_grid_by_batch(tmp_path, host):
    path = write(tmp_path, """\
        base_spec = "../base.toml"
        [axes]
        "backbone.shape" = ["L1-D32", "L2-D32"]
        [lr_grid_by_batch]
        8 = [0.1, 0.2, 0.3]
        16 = [0.2, 0.5]
        """)
    sweep = load_sweep(path, host=host)
    assert len(sweep.members) == 2 * (3 + 2)
    pairs = {(s.train.batch_size, s.optimizer.lr) for s in sweep.run_specs}
    assert pairs == {(8, 0.1), (8, 0.2), (8, 0.3), (16, 0.2), (16, 0.5)}


def test_batch_axis_restricts_the_lr_grid(tmp_path, host):
    path = write(tmp_path, """\
        base_spec = "../base.toml"
        [axes]
        "train.batch_size" = [16]
        [lr_grid_by_batch]
        8 = [0.1]
        16 = [0.2, 0.5]
        """)
    assert [m.values["optimizer.lr"] for m in load_sweep(path, host=host).members] == [0.2, 0.5]


def test_component_tables_replace_whole_tables(tmp_path, host):
    path = write(tmp_path, """\
        base_spec = "../base.toml"
        [set]
        "train.steps" = 7
        data = {kind = "stdlib", max_bytes = 1000}
        [axes]
        noise = [{kind = "masked"}, {kind = "hybrid", shift = 2.0}]
        """)
    sweep = load_sweep(path, host=host)
    kinds = [host.registry.kind_of(s.noise).name for s in sweep.run_specs]
    assert kinds == ["masked", "hybrid"] and sweep.run_specs[1].noise.shift == 2.0
    assert all(host.registry.kind_of(s.data).name == "stdlib" for s in sweep.run_specs)
    assert all(s.train.steps == 7 for s in sweep.run_specs)


def test_names_are_stable_unique_and_readable(tmp_path, host):
    one = write(tmp_path, """\
        base_spec = "../base.toml"
        [axes]
        optimizer.lr = [0.1, 0.3]
        "backbone.shape" = ["L1-D32"]
        """)
    names = [m.name for m in load_sweep(one, host=host).members]
    assert names[0].startswith("lr=0.1_shape=L1-D32_")
    reordered = write(tmp_path, """\
        base_spec = "../base.toml"
        [axes]
        optimizer.lr = [0.3, 0.1, 0.2]
        "backbone.shape" = ["L1-D32"]
        """)
    again = [m.name for m in load_sweep(reordered, host=host).members]
    assert set(names) < set(again) and len(set(again)) == 3
    fixed = write(tmp_path, """\
        base_spec = "../base.toml"
        [set]
        "train.steps" = 5
        [axes]
        optimizer.lr = [0.1, 0.3]
        "backbone.shape" = ["L1-D32"]
        """)
    # same slug, other fixed overrides: another run, so another directory
    changed = [m.name for m in load_sweep(fixed, host=host).members]
    assert [n.rsplit("_", 1)[0] for n in changed] == [n.rsplit("_", 1)[0] for n in names]
    assert set(changed).isdisjoint(names)


@pytest.mark.parametrize("value", [3, 0.25, 1e-4, -1000.0, True, "L2-D64", [0.9, 0.98],
                                   {"kind": "hybrid", "shift": 2.0}, 'quote"d'])
def test_literals_round_trip_through_set(value):
    key, parsed = parse_override(f"a.b={literal(value)}")
    assert key == "a.b" and parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize("sweep, where, message", [
    ('base_spec = "../base.toml"\naxess = {}\n', "axess", "did you mean 'axes'"),
    ('base_spec = "../nope.toml"\n', "base_spec", "not found"),
    ('base_spec = "../base.toml"\n[axes]\n"optimizer.lr" = []\n', "axes.optimizer.lr",
     "non-empty list"),
    ('base_spec = "../base.toml"\n[axes]\n"optimizer.lr" = [0.1, 0.1]\n', "axes.optimizer.lr",
     "twice"),
    ('base_spec = "../base.toml"\n[lr_grid_by_batch]\neight = [0.1]\n', "lr_grid_by_batch.eight",
     "batch sizes"),
    ('base_spec = "../base.toml"\n[axes]\n"optimizer.lr" = [0.1]\n[lr_grid_by_batch]\n8 = [0.1]\n',
     "axes", "set by [lr_grid_by_batch]"),
    ('base_spec = "../base.toml"\n[axes]\n"train.batch_size" = [8, 32]\n[lr_grid_by_batch]\n'
     '8 = [0.1]\n', "lr_grid_by_batch", "no LR grid for batch size(s) 32"),
    ('base_spec = "../base.toml"\n[executor]\nkind = "slurmish"\n', "executor.kind",
     "unknown executor kind"),
])
def test_sweep_spec_errors_name_the_key(tmp_path, host, sweep, where, message):
    path = write(tmp_path, sweep)
    with pytest.raises(SpecError) as err:
        load_sweep(path, host=host)
    text = str(err.value)
    assert f"{where}:" in text and message in text, text


def test_every_member_is_validated_before_anything_runs(tmp_path, host):
    path = write(tmp_path, """\
        base_spec = "../base.toml"
        [axes]
        "backbone.shape" = ["L1-D32", "L1-D33", "X"]
        "train.steps" = [4, 0]
        """)
    with pytest.raises(SpecError) as err:
        load_sweep(path, host=host)
    text = str(err.value)
    assert "backbone.shape" in text and "train.steps" in text
    assert "3 members" in text  # train.steps = 0 fails for each of the 3 shapes
    assert not (tmp_path / "specs" / "sweeps" / "sweeps").exists()


def test_variants_cross_the_grid_with_bundles_that_change_together(tmp_path, host):
    """An AR member sets [objective] where diffusion members set [noise]: the base has
    neither, and every variant runs every grid point."""
    base = BASE.replace('[noise]\nkind = "uniform"\n', "")
    path = write(tmp_path, """\
        base_spec = "../base.toml"
        [variants]
        ar = {objective = {kind = "autoregressive"}}
        masked = {noise = {kind = "masked"}}
        uniform.noise = {kind = "uniform"}
        [axes]
        "backbone.shape" = ["L1-D32", "L2-D32"]
        """, base=base)
    sweep = load_sweep(path, host=host)
    assert len(sweep.members) == 6
    families = {}
    for member, spec in zip(sweep.members, sweep.run_specs):
        families.setdefault(member.values["variant"], set()).add(member.values["backbone.shape"])
        assert member.name.startswith(f"variant={member.values['variant']}_")
        if member.values["variant"] == "ar":
            assert spec.noise is None and spec.objective.causal()
        else:
            assert spec.noise is not None and not spec.objective.causal()
    assert families == {v: {"L1-D32", "L2-D32"} for v in ("ar", "masked", "uniform")}


def test_an_empty_variant_is_refused(tmp_path, host):
    path = write(tmp_path, """\
        base_spec = "../base.toml"
        [variants]
        ar = {}
        """)
    with pytest.raises(SpecError) as err:
        load_sweep(path, host=host)
    assert "variants.ar" in str(err.value)


def test_zip_rows_vary_together_and_cross_the_axes(tmp_path, host):
    """Each size with its own step count: row i of every [zip] list is one joint value."""
    path = write(tmp_path, """\
        base_spec = "../base.toml"
        [zip]
        "backbone.shape" = ["L1-D32", "L2-D32", "L1-D64"]
        "train.steps" = [40, 20, 10]
        [axes]
        optimizer.lr = [0.1, 0.3]
        """)
    sweep = load_sweep(path, host=host)
    pairs = {(s.backbone.shape, s.train.steps, s.optimizer.lr) for s in sweep.run_specs}
    rows = [("L1-D32", 40), ("L2-D32", 20), ("L1-D64", 10)]
    assert pairs == {(shape, steps, lr) for shape, steps in rows for lr in (0.1, 0.3)}
    assert len({m.name for m in sweep.members}) == 6


@pytest.mark.parametrize("zipped, words", [
    (['"backbone.shape" = ["L1-D32", "L2-D32"]', '"train.steps" = [40]'],
     ["same length", "train.steps has 1"]),
    (['"backbone.shape" = ["L1-D32", "L1-D32"]', '"train.steps" = [40, 40]'],
     ["row 2 repeats row 1"]),
    (['"optimizer.lr" = [0.1, 0.2]'], ["optimizer.lr", "also in [axes]"]),
    (['"train.steps" = []'], ["zip.train.steps", "non-empty"]),
])
def test_a_bad_zip_table_is_refused_with_its_reason(tmp_path, host, zipped, words):
    lines = ['base_spec = "../base.toml"', "[axes]", "optimizer.lr = [0.1, 0.3]", "[zip]", *zipped]
    with pytest.raises(SpecError) as err:
        load_sweep(write(tmp_path, "\n".join(lines) + "\n"), host=host)
    assert all(w in str(err.value) for w in words), str(err.value)


def test_the_data_constrained_micro_study_is_what_it_says(host):
    """27 members: 3 families × 3 sizes × 1, 4 and 16 epochs of one 16,384-token pool."""
    from difflaws.data.pool import planned

    path = Path(__file__).parents[1] / "specs" / "sweeps" / "data_constrained_micro.toml"
    sweep = load_sweep(path, host=host, out="unused")
    assert len(sweep.members) == 27
    seen = set()
    for member, spec in zip(sweep.members, sweep.run_specs):
        pool = planned(spec)
        assert pool["pool_tokens"] == 16384
        family = "ar" if spec.objective.causal() else host.registry.kind_of(spec.noise).name
        seen.add((family, spec.backbone.shape, pool["epochs"]))
    assert seen == {(f, s, e) for f in ("ar", "masked", "uniform")
                    for s in ("L1-D32", "L2-D32", "L2-D64") for e in (1.0, 4.0, 16.0)}
