"""Spec loading: base chains, typed --set overrides, collected errors, round trips.

These tests use kinds defined here, registered through the same hook a
third-party plugin uses, so they pin the core's behaviour independently of
the built-in plugins.
"""

from __future__ import annotations

import sys
from pathlib import Path
import types

import attrs
import pytest
from attrs.validators import gt, in_

from difflaws import hookimpl
from difflaws.interfaces import NoiseConfig, ScheduleConfig
from difflaws.plugins import PluginHost
from difflaws.spec import SpecError, load_spec, resolved_toml
from difflaws.spec.load import read_with_bases


@attrs.frozen(kw_only=True)
class StepSchedule(ScheduleConfig):
    """Test schedule."""

    eps: float = 1e-3

    def build(self, **context):
        return ("step", self.eps)


@attrs.frozen(kw_only=True)
class MixNoise(NoiseConfig):
    """Test noise process."""

    shift: float = 0.0
    scale: float = attrs.field(default=1.0, validator=gt(0))
    mode: str = attrs.field(default="a", validator=in_(("a", "b")))
    schedule: ScheduleConfig = attrs.Factory(StepSchedule)

    def build(self, **context):
        return ("mix", self.shift, context)


@attrs.frozen(kw_only=True)
class MiniSpec:
    name: str = ""
    seed: int = 0
    tags: list[str] = attrs.Factory(list)
    noise: NoiseConfig


def _host():
    module = types.ModuleType("spec_test_plugin")

    @hookimpl
    def difflaws_register_kinds(register):
        register("schedule", "step", StepSchedule)
        register("noise", "mix", MixNoise)

    module.difflaws_register_kinds = difflaws_register_kinds
    host = PluginHost(entry_points=False, builtins=False)
    host.add(module, name="spec-test")
    return host


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def load(path, *overrides):
    return load_spec(path, overrides, host=_host(), cls=MiniSpec)


def problems(exc_info):
    return {(p.path, p.source.split(" ")[0].rsplit("/", 1)[-1]) for p in exc_info.value.problems}


def test_structures_nested_kinds_and_names_run_after_file(tmp_path):
    path = write(tmp_path, "a.toml", '[noise]\nkind = "mix"\nshift = 2\n'
                                     '[noise.schedule]\nkind = "step"\neps = 0.5\n')
    spec = load(path)
    assert spec.name == "a"
    assert spec.noise == MixNoise(shift=2.0, schedule=StepSchedule(eps=0.5))
    assert isinstance(spec.noise.shift, float)


def test_base_chain_deep_merges_tables(tmp_path):
    write(tmp_path, "root.toml", 'seed = 3\ntags = ["a"]\n[noise]\nkind = "mix"\nshift = 1.0\n'
                                 'scale = 2.0\n')
    (tmp_path / "sub").mkdir()
    child = write(tmp_path / "sub", "child.toml", 'base = "../root.toml"\ntags = ["b"]\n'
                                                  '[noise]\nshift = 5.0\n')
    spec = load(child)
    assert spec.seed == 3
    assert spec.tags == ["b"]  # arrays replace, they do not concatenate
    assert (spec.noise.shift, spec.noise.scale) == (5.0, 2.0)


def test_a_table_whose_kind_changes_replaces_the_base_table(tmp_path):
    """The base's hybrid `shift` is no key of masked noise: merging it in would be an error."""
    minimal = Path(__file__).parent / "specs" / "minimal.toml"
    child = write(tmp_path, "child.toml", f'base = {str(minimal)!r}\n[noise]\nkind = "masked"\n'
                                          '[backbone]\nshape = "L2-D128"\n')
    spec = load_spec(child, host=PluginHost(entry_points=False))
    assert type(spec.noise).__name__ == "MaskedNoiseConfig"
    assert spec.backbone.shape == "L2-D128"  # same kind: merged key by key, as before


def test_set_overrides_are_typed_by_the_schema(tmp_path):
    path = write(tmp_path, "a.toml", '[noise]\nkind = "mix"\n')
    spec = load(path, "noise.shift=2", "seed=7", "tags=[\"x\", \"y\"]", "name=custom")
    assert spec.noise.shift == 2.0 and isinstance(spec.noise.shift, float)
    assert (spec.seed, spec.tags, spec.name) == (7, ["x", "y"], "custom")
    with pytest.raises(SpecError) as err:
        load(path, "seed=seven")
    assert err.value.problems[0].path == "seed"
    assert err.value.problems[0].source == "--set seed=seven"


def test_every_problem_is_collected_with_its_file(tmp_path):
    write(tmp_path, "base.toml", '[noise]\nkind = "mix"\nshfit = 1.0\n')
    top = write(tmp_path, "top.toml", 'base = "base.toml"\nseed = "x"\nextra = 1\n'
                                      '[noise.schedule]\nkind = "stpe"\n')
    with pytest.raises(SpecError) as err:
        load(top)
    found = problems(err)
    assert ("noise.shfit", "base.toml") in found
    assert ("seed", "top.toml") in found
    assert ("extra", "top.toml") in found
    assert ("noise.schedule.kind", "top.toml") in found
    text = str(err.value)
    assert "did you mean 'shift'" in text and "did you mean 'step'" in text


def test_validator_failure_is_attributed_to_its_key(tmp_path):
    path = write(tmp_path, "a.toml", '[noise]\nkind = "mix"\nscale = -1.0\n')
    with pytest.raises(SpecError) as err:
        load(path)
    (problem,) = err.value.problems
    assert problem.path == "noise.scale" and "> 0" in problem.message


def test_multi_argument_validator_keeps_its_message(tmp_path):
    path = write(tmp_path, "a.toml", '[noise]\nkind = "mix"\nmode = "c"\n')
    with pytest.raises(SpecError) as err:
        load(path)
    (problem,) = err.value.problems
    assert problem.path == "noise.mode"
    assert problem.message.startswith("must be in") and "Attribute(" not in problem.message


def test_missing_kind_and_missing_table(tmp_path):
    with pytest.raises(SpecError) as err:
        load(write(tmp_path, "a.toml", "[noise]\nshift = 1.0\n"))
    assert err.value.problems[0].path == "noise.kind"
    assert "mix" in err.value.problems[0].message
    with pytest.raises(SpecError) as err:
        load(write(tmp_path, "b.toml", "seed = 1\n"))
    assert err.value.problems[0].path == "noise"


def test_malformed_toml_reports_line_and_column(tmp_path):
    path = write(tmp_path, "bad.toml", 'seed = 1\n[noise\nkind = "mix"\n')
    with pytest.raises(SpecError) as err:
        read_with_bases(path)
    assert "line 2" in str(err.value) and "column" in str(err.value)


def test_missing_base_and_cycles_are_reported(tmp_path):
    path = write(tmp_path, "a.toml", 'base = "nope.toml"\n')
    with pytest.raises(SpecError) as err:
        read_with_bases(path)
    assert err.value.problems[0].path == "base" and "nope.toml" in str(err.value)
    write(tmp_path, "x.toml", 'base = "y.toml"\n')
    write(tmp_path, "y.toml", 'base = "x.toml"\n')
    with pytest.raises(SpecError, match="cycle"):
        read_with_bases(tmp_path / "x.toml")


def test_resolved_spec_round_trips(tmp_path):
    path = write(tmp_path, "a.toml", '[noise]\nkind = "mix"\n')
    host = _host()
    spec = load_spec(path, host=host, cls=MiniSpec)
    text = resolved_toml(spec, host)
    assert 'kind = "step"' in text and "eps = 0.001" in text  # defaults are written out
    again = load_spec(write(tmp_path, "b.toml", text), host=host, cls=MiniSpec)
    assert again == spec


def test_unknown_category_or_duplicate_kind_disables_only_that_plugin():
    host = _host()
    bad = types.ModuleType("bad_plugin")

    @hookimpl
    def difflaws_register_kinds(register):
        register("schedule", "fresh", type("Fresh", (), {}))  # not an attrs class

    bad.difflaws_register_kinds = difflaws_register_kinds
    record = host.add(bad, name="bad")
    assert not record.ok and "attrs class" in record.error
    assert host.registry.names("noise") == ["mix"]

    dup = types.ModuleType("dup_plugin")

    @attrs.frozen
    class Other(ScheduleConfig):
        def build(self, **context):
            return None

    @hookimpl
    def difflaws_register_kinds(register):  # noqa: F811 - a second plugin's hook
        register("schedule", "other", Other)
        register("noise", "mix", MixNoise)

    dup.difflaws_register_kinds = difflaws_register_kinds
    record = host.add(dup, name="dup")
    assert not record.ok and "already registered by 'spec-test'" in record.error
    assert host.registry.names("schedule") == ["step"]  # partial registration rolled back
    assert sys.modules.get("dup_plugin") is None
