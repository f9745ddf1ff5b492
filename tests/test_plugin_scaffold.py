"""``difflaws plugin new``: every category's package is complete, passes its own tests,
and installs as a plugin that ``difflaws plugins`` and ``difflaws kinds`` show."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib

import difflaws
from conftest import run_cli
from difflaws import cli, scaffold
from difflaws.plugins import PluginHost
from difflaws.registry import CATEGORIES


def new(*args):
    """``difflaws plugin new ARGS`` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["plugin", "new", *map(str, args)])
    return code, out.getvalue(), err.getvalue()


def tree(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None
            for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """One package per category, ``{category: (package folder, what the command printed)}``."""
    out = tmp_path_factory.mktemp("generated")
    packages = {}
    for category in CATEGORIES:
        code, stdout, stderr = new(f"demo-{category}", "--category", category, "--out", out)
        assert code == 0, stderr
        packages[category] = (out / f"difflaws-demo-{category}", stdout)
    return packages


def test_every_category_gets_a_complete_package(generated):
    major_minor = ".".join(difflaws.__version__.split(".")[:2])
    for category, (folder, printed) in generated.items():
        module = f"difflaws_demo_{category}"
        component = scaffold.templates(category).COMPONENT
        files = {"pyproject.toml", "README.md", f"{module}/__init__.py", f"{module}/plugin.py",
                 f"{module}/{component}", "tests/test_plugin.py"}
        assert {k for k, v in tree(folder).items() if v is not None} == files, category
        meta = tomllib.loads((folder / "pyproject.toml").read_text())
        assert meta["project"]["name"] == f"difflaws-demo-{category}"
        assert meta["project"]["version"] == "0.1.0"
        assert meta["project"]["dependencies"] == [f"difflaws>={major_minor}"]
        entry_points = meta["project"]["entry-points"]["difflaws"]
        assert entry_points == {f"demo-{category}": f"{module}.plugin"}
        for path in files:
            assert str(folder / path) in printed
        for step in (f"pip install -e {folder}", "difflaws plugins", f"pytest {folder}"):
            assert step in printed
        leftovers = [p.name for p in folder.parent.iterdir() if p.name.startswith(".")]
        assert not leftovers  # the temporary folders were renamed, none left behind


def test_plugin_modules_are_light_and_document_their_keys(generated):
    """plugin.py imports no torch, and each kind has a summary and a documented key of its own."""
    paths = [str(folder) for folder, _ in generated.values()]
    script = textwrap.dedent("""
        import importlib, json, sys

        import attrs

        from difflaws.interfaces import INTERFACES

        report = {}
        for category in INTERFACES:
            module = importlib.import_module(f"difflaws_demo_{category}.plugin")
            kinds = []
            module.difflaws_register_kinds(lambda *registered: kinds.append(registered))
            [(cat, kind, config)] = kinds
            shared = {f.name for f in attrs.fields(INTERFACES[category])}
            report[category] = {
                "registered": [cat, kind],
                "summary": (config.__doc__ or "").strip().splitlines()[0],
                "documented": [f.name for f in attrs.fields(config)
                               if f.name not in shared and f.metadata.get("doc")]}
        print(json.dumps({"torch": "torch" in sys.modules, "kinds": report}))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(paths)}, timeout=300)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["torch"] is False
    for category, kind in report["kinds"].items():
        assert kind["registered"] == [category, f"demo-{category}"]
        assert kind["summary"] and kind["documented"], category


@pytest.mark.slow
def test_generated_tests_pass(generated):
    folders = [folder for folder, _ in generated.values()]
    root = folders[0].parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, folders))}
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider",
         "--import-mode=importlib", "-c", os.devnull, f"--rootdir={root}", *map(str, folders)],
        capture_output=True, text=True, env=env, cwd=root, timeout=600)
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    passed = [line for line in out.stdout.splitlines() if line.startswith("PASSED")]
    for folder in folders:  # each package ran tests of its own beyond the registration check
        assert sum(folder.name in line for line in passed) >= 2, folder.name


@pytest.mark.slow
def test_installed_plugin_is_listed_and_its_kind_shown(generated, tmp_path):
    source = tmp_path / "src"
    shutil.copytree(generated["noise"][0], source)  # the build writes into its source folder
    site = tmp_path / "site"
    out = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                          "--no-build-isolation", "--no-index", "--disable-pip-version-check",
                          "--target", str(site), str(source)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    env = {"PYTHONPATH": str(site), "DIFFLAWS_LOAD_PLUGINS": "demo-noise"}
    listed = run_cli("plugins", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    records = {r["name"]: r for r in json.loads(listed.stdout)}
    record = records["demo-noise"]
    assert record["error"] is None
    assert record["distribution"] == "difflaws-demo-noise" and record["version"] == "0.1.0"
    assert record["kinds"] == ["noise:demo-noise"]
    kinds = run_cli("kinds", "noise", env=env)
    assert kinds.returncode == 0, kinds.stderr
    assert "demo-noise" in kinds.stdout and "mask_share" in kinds.stdout


def test_unknown_category_exits_2_with_a_suggestion(tmp_path):
    code, _, err = new("demo", "--category", "nosie", "--out", tmp_path)
    assert code == 2
    assert "did you mean 'noise'" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_existing_folder_exits_2_and_is_left_unchanged(tmp_path):
    folder = tmp_path / "difflaws-demo"
    (folder / "difflaws_demo").mkdir(parents=True)
    (folder / "difflaws_demo" / "plugin.py").write_text("# my own work\n")
    before = tree(folder)
    code, _, err = new("demo", "--category", "noise", "--out", tmp_path)
    assert code == 2 and "already exists" in err
    assert tree(folder) == before
    assert [p.name for p in tmp_path.iterdir()] == ["difflaws-demo"]


@pytest.mark.parametrize("name", ["Demo", "demo_noise", "-demo", "demo-", "de--mo", "1demo",
                                  "difflaws-demo", "dé"])
def test_bad_names_exit_2_and_write_nothing(tmp_path, name):
    code, _, err = new("--category", "noise", "--out", tmp_path, "--", name)
    assert code == 2 and "NAME" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_a_kind_a_loaded_plugin_registers_is_refused(tmp_path):
    code, _, err = new("masked", "--category", "noise", "--out", tmp_path)
    assert code == 2 and "--kind" in err
    assert list(tmp_path.iterdir()) == []


def test_kind_option_names_the_kind_and_out_is_created(tmp_path):
    out = tmp_path / "new" / "folder"
    code, _, err = new("mine", "--category", "schedule", "--kind", "wide-logistic", "--out", out)
    assert code == 0, err
    path = out / "difflaws-mine" / "difflaws_mine" / "plugin.py"
    spec = importlib.util.spec_from_file_location("difflaws_mine_plugin_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    host = PluginHost(entry_points=False)
    assert host.add(module, name="mine").kinds == ["schedule:wide-logistic"]
    assert host.registry.get("schedule", "wide-logistic").config.__name__ == "WideLogisticConfig"


def test_an_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    calls = []
    real = Path.write_text

    def failing(self, *args, **kwargs):
        calls.append(self)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", failing)
    with pytest.raises(OSError, match="disk full"):
        scaffold.write(tmp_path / "difflaws-x", {"a.txt": "a", "b/c.txt": "c"})
    assert list(tmp_path.iterdir()) == []
