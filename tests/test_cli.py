"""The CLI as a user meets it: exit codes, messages, no tracebacks."""

from __future__ import annotations

import json

import pytest

import difflaws
from conftest import REPO, run_cli

MINIMAL = (REPO / "tests" / "specs" / "minimal.toml").as_posix()

BROKEN_SPECS = {
    "wrong type": (f'base = "{MINIMAL}"\n[train]\nsteps = "many"\n', "train.steps"),
    "unknown key at depth": (f'base = "{MINIMAL}"\n[noise.schedule]\nkind = "linear"\nepz = 1\n',
                             "noise.schedule.epz"),
    "unknown top-level key": (f'base = "{MINIMAL}"\nsede = 3\n', "sede"),
    "unknown kind": (f'base = "{MINIMAL}"\n[noise]\nkind = "hybird"\n', "noise.kind"),
    "missing required field": ('[backbone]\nkind = "transformer"\nshape = "L2-D64"\n', "noise"),
    "missing kind": (f'base = "{MINIMAL}"\n[optimizer]\nlr = 0.1\n', "optimizer.kind"),
    "malformed TOML": ('name = "x"\n[noise\nkind = "masked"\n', "line 2"),
    "missing base file": ('base = "does_not_exist.toml"\n', "base"),
    "failing validator": (f'base = "{MINIMAL}"\n[train]\nbatch_size = 0\n', "train.batch_size"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_SPECS))
def test_broken_spec_exits_2_naming_the_path(case, tmp_path):
    text, path = BROKEN_SPECS[case]
    spec = tmp_path / "broken.toml"
    spec.write_text(text)
    out = run_cli("validate", spec)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    assert path in out.stderr
    assert "broken.toml" in out.stderr


def test_validate_prints_resolved_spec_with_defaults():
    out = run_cli("validate", MINIMAL, "--set", "noise.shift=2")
    assert out.returncode == 0, out.stderr
    assert "shift = 2.0" in out.stdout
    assert "[parameterization]" in out.stdout and "[noise.schedule]" in out.stdout


def test_validate_json_reports_model_figures():
    out = run_cli("validate", MINIMAL, "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    for key in ("non_embedding_params", "total_params", "flops_per_token_M", "flops_per_token_6P"):
        assert report[key] > 0
    assert report["spec"]["noise"]["kind"] == "hybrid"


def test_plugins_json_lists_builtin_kinds():
    out = run_cli("plugins", "--json")
    records = json.loads(out.stdout)
    kinds = {k for r in records if r["builtin"] for k in r["kinds"]}
    for expected in ("noise:masked", "noise:uniform", "noise:hybrid", "backbone:transformer",
                     "parameterization:completep", "parameterization:standard"):
        assert expected in kinds


def test_kinds_lists_fields_and_rejects_unknown_category():
    out = run_cli("kinds", "noise")
    assert out.returncode == 0 and "hybrid" in out.stdout and "shift" in out.stdout
    out = run_cli("kinds", "noize")
    assert out.returncode == 2 and "did you mean 'noise'" in out.stderr


@pytest.mark.parametrize("args", [["--version"], ["run", "--version"], ["validate", "--version"]])
def test_version_everywhere(args):
    out = run_cli(*args)
    assert out.returncode == 0 and difflaws.__version__ in out.stdout


def test_help_works_for_every_command():
    out = run_cli("--help")
    assert out.returncode == 0
    for command in ("run", "validate", "plugins", "kinds"):
        assert command in out.stdout
        assert run_cli(command, "--help").returncode == 0
