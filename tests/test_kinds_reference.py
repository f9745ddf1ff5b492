"""``difflaws kinds`` is the complete spec reference: every table, every key documented,
allowed values read off the validators."""

from __future__ import annotations

import json
import types
import typing

import attrs
import pytest

from difflaws import cli, hookimpl
from difflaws.builtins.data import StdlibDataConfig
from difflaws.commands import kinds as reference
from difflaws.distributed.config import STRATEGIES, DistributedConfig
from difflaws.interfaces import NoiseConfig, ScheduleConfig, is_interface
from difflaws.plugins import PluginHost, default_host, set_default_host
from difflaws.spec.model import Spec
from difflaws.sweep.spec import SweepSpec
from difflaws.train.config import TrainConfig

SPEC_TABLES = {"spec": Spec, "train": TrainConfig, "distributed": DistributedConfig,
               "sweep": SweepSpec}


def kinds(capsys, *args) -> tuple[int, str, str]:
    code = cli.main(["kinds", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def kinds_json(capsys, *args) -> dict:
    code, out, err = kinds(capsys, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def fields_by_name(entry: dict) -> dict:
    return {f["name"]: f for f in entry["fields"]}


def bound(op: str, value) -> str:
    return f"{op} {value:g}" if isinstance(value, float) else f"{op} {value}"


# -- (a) every key has a description --------------------------------------------------------
def _documented_classes():
    for kind in PluginHost(entry_points=False).registry.kinds():
        yield f"{kind.category}:{kind.name}", kind.config
    yield from SPEC_TABLES.items()


@pytest.mark.parametrize("label, cls", list(_documented_classes()),
                         ids=[label for label, _ in _documented_classes()])
def test_every_field_has_a_one_line_doc(label, cls):
    for field in attrs.fields(cls):
        doc = field.metadata.get("doc")
        assert isinstance(doc, str) and doc.strip(), f"{label}.{field.name} has no doc"
        assert "\n" not in doc, f"{label}.{field.name}: the doc must be one line"


def test_json_carries_every_field_with_its_doc(capsys):
    report = kinds_json(capsys)
    assert [t["table"] for t in report["tables"]] == list(SPEC_TABLES)
    for table in report["tables"]:
        declared = [f.name for f in attrs.fields(SPEC_TABLES[table["table"]])]
        listed = [f["name"] for f in table["fields"]]
        assert listed[len(listed) - len(declared):] == declared  # the reader's `base` may lead
        for f in table["fields"]:
            assert set(f) == {"name", "type", "default", "allowed", "doc"} and f["doc"]
    registry = default_host().registry
    for category in report["categories"]:
        for kind in category["kinds"]:
            config = registry.get(category["category"], kind["kind"]).config
            assert [f["name"] for f in kind["fields"]] == [f.name for f in attrs.fields(config)]
            assert all(f["doc"] and f["allowed"] and f["type"] for f in kind["fields"])


# -- (b) allowed values come from the validators ----------------------------------------------
def test_train_json_reads_bounds_and_options_off_the_validators(capsys):
    report = kinds_json(capsys, "train")
    assert report["categories"] == [] and len(report["tables"]) == 1
    listed = fields_by_name(report["tables"][0])
    declared = attrs.fields(TrainConfig)

    steps = declared.steps.validator
    assert (steps.compare_op, steps.bound) == (">", 0)
    assert listed["steps"]["allowed"] == bound(steps.compare_op, steps.bound) == "> 0"
    assert listed["steps"]["type"] == "int" and listed["steps"]["default"] == str(declared.steps.default)

    options = declared.precision.validator.options
    assert {"fp32", "bf16"} <= set(options)
    for option in options:
        assert f'"{option}"' in listed["precision"]["allowed"]
    assert listed["compile"]["allowed"] == "true | false"
    assert listed["device"]["allowed"] == "any string"  # a str without a validator


def test_combined_and_optional_validators():
    lo, hi = attrs.fields(StdlibDataConfig).val_fraction.validator._validators
    field = attrs.fields(StdlibDataConfig).val_fraction
    assert reference.allowed_text(field, float, None) == f"in [{lo.bound:g}, {hi.bound:g}]"

    @attrs.frozen
    class Probe:
        half_open: float = attrs.field(default=0.5, validator=[attrs.validators.ge(0.0),
                                                               attrs.validators.lt(1.0)])
        maybe: int | None = attrs.field(default=None,
                                        validator=attrs.validators.optional(attrs.validators.gt(2)))
        choice: str | None = attrs.field(default=None, validator=attrs.validators.optional(
            attrs.validators.in_(("a", "b"))))
        names: list[str] = attrs.field(factory=list, validator=attrs.validators.min_len(1))

    rows = {f["name"]: f for f in reference.describe_fields(Probe, None)}
    assert rows["half_open"]["allowed"] == "in [0, 1)"
    assert rows["maybe"] == {**rows["maybe"], "type": "int", "default": "unset",
                             "allowed": "> 2 or unset"}
    assert rows["choice"]["allowed"] == '"a" | "b" or unset'
    assert rows["names"]["allowed"] == "non-empty" and rows["names"]["default"] == "[]"


# -- (c) text layout ----------------------------------------------------------------------------
def test_distributed_text_shows_strategy_options_in_columns(capsys):
    code, out, _ = kinds(capsys, "distributed")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("[distributed]")
    row = next(line for line in lines if line.split()[:1] == ["strategy"])
    for strategy in STRATEGIES:
        assert f'"{strategy}"' in row
    default = attrs.fields(DistributedConfig).strategy.default
    assert row.split()[1:3] == ["str", f'"{default}"']
    # every key's row starts its type in the same column
    rows = [line for line in lines if line.startswith("  ") and not line.startswith("   ")]
    starts = {line.index(line.split()[1], len(line.split()[0]) + 2) for line in rows}
    assert len(rows) == len(attrs.fields(DistributedConfig)) and len(starts) == 1


def test_whole_reference_fits_a_100_column_terminal(capsys):
    code, out, _ = kinds(capsys)
    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= 100
    headers = [line.split()[0] for line in out.splitlines() if line.startswith("[")]
    expected = [f"[{name}]" for name in SPEC_TABLES]
    assert headers[:4] == expected  # the spec tables first, then every category
    assert headers[4:] == [f"[{c}]" for c in reference.CATEGORIES]


# -- (d) interface-typed keys list the registered kinds ------------------------------------------
def test_interface_fields_list_registered_kinds(capsys):
    registry = default_host().registry
    schedule = fields_by_name({"fields": kinds_json(capsys, "noise")["categories"][0]
                               ["shared_fields"]})["schedule"]
    assert schedule["type"] == "table" and schedule["allowed"].startswith("a [schedule] table")
    for name in registry.names("schedule"):
        assert f'"{name}"' in schedule["allowed"]

    spec = fields_by_name(kinds_json(capsys, "spec")["tables"][0])
    def unwrapped(tp):  # `noise: NoiseConfig | None` lists the noise kinds too
        if typing.get_origin(tp) not in (typing.Union, types.UnionType):
            return tp
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else tp

    hints = {name: unwrapped(tp) for name, tp in typing.get_type_hints(Spec).items()}
    components = {name: tp for name, tp in hints.items() if is_interface(tp)}
    assert {"objective", "noise", "backbone", "optimizer"} <= set(components)
    for name, tp in components.items():
        assert spec[name]["allowed"].startswith(f"a [{tp.category}] table: kind = ")
        for kind in registry.names(tp.category):
            assert f'"{kind}"' in spec[name]["allowed"], name


def test_a_kind_a_plugin_adds_is_listed_wherever_its_category_is_accepted(capsys):
    @attrs.frozen(kw_only=True)
    class HalfwaySchedule(ScheduleConfig):
        """A schedule from a third-party plugin."""

        sharpness: float = attrs.field(default=1.0, validator=attrs.validators.gt(0.0))

    module = types.ModuleType("halfway_plugin")

    @hookimpl
    def difflaws_register_kinds(register):
        register("schedule", "halfway", HalfwaySchedule)

    module.difflaws_register_kinds = difflaws_register_kinds
    host = PluginHost(entry_points=False)
    host.add(module, name="halfway")
    set_default_host(host)
    try:
        noise = kinds_json(capsys, "noise")["categories"][0]
        schedule = kinds_json(capsys, "schedule")["categories"][0]
    finally:
        set_default_host(None)
    assert '"halfway"' in fields_by_name({"fields": noise["shared_fields"]})["schedule"]["allowed"]
    halfway = next(k for k in schedule["kinds"] if k["kind"] == "halfway")
    assert halfway["plugin"] == "halfway"
    assert halfway["fields"] == [{"name": "sharpness", "type": "float", "default": "1.0",
                                  "allowed": "> 0", "doc": ""}]  # undocumented, still listed


def test_shared_interface_keys_are_listed_once_per_category(capsys):
    code, out, _ = kinds(capsys, "noise")
    assert code == 0
    shared = [f.name for f in attrs.fields(NoiseConfig)]
    for name in shared:
        assert sum(line.split()[:1] == [name] for line in out.splitlines()) == 1, name
    assert 'kind = "hybrid"' in out and "shift" in out


# -- (e) unknown names --------------------------------------------------------------------------
@pytest.mark.parametrize("typo, meant", [("trian", "train"), ("noize", "noise"),
                                         ("distibuted", "distributed")])
def test_unknown_name_exits_2_with_did_you_mean(capsys, typo, meant):
    code, out, err = kinds(capsys, typo)
    assert code == 2 and out == ""
    assert f"did you mean {meant!r}" in err
