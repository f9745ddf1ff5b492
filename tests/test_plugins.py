"""Third-party plugins: discovered by entry point, isolated when broken."""

from __future__ import annotations

import json
import os
import subprocess
import sys

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib

import pytest
from conftest import REPO, run_cli

MINIMAL = REPO / "tests" / "specs" / "minimal.toml"

SCHEDULE_PLUGIN = '''
import attrs
from difflaws import hookimpl
from difflaws.interfaces import ScheduleConfig

@attrs.frozen(kw_only=True)
class HalfwaySchedule(ScheduleConfig):
    """Test schedule shipped by a third-party package."""
    sharpness: float = 1.0

    def build(self, **context):
        return self

@hookimpl
def difflaws_register_kinds(register):
    register("schedule", "halfway", HalfwaySchedule)
'''

BROKEN_PLUGIN = '''
raise RuntimeError("this plugin is broken on purpose")
'''


def env_for(site, load=None):
    """``load=None`` unsets DIFFLAWS_LOAD_PLUGINS: every installed plugin loads."""
    return {"PYTHONPATH": str(site), "DIFFLAWS_LOAD_PLUGINS": load}


def test_entry_point_plugin_is_listed_and_usable(fake_dist, tmp_path):
    site = fake_dist("difflaws-halfway", "1.2.0", {"halfway_plugin": SCHEDULE_PLUGIN},
                     {"halfway": "halfway_plugin"})
    out = run_cli("plugins", "--json", env=env_for(site, "halfway"))
    assert out.returncode == 0, out.stderr
    records = {r["name"]: r for r in json.loads(out.stdout)}
    assert records["halfway"]["distribution"] == "difflaws-halfway"
    assert records["halfway"]["version"] == "1.2.0"
    assert records["halfway"]["kinds"] == ["schedule:halfway"]
    assert any(r["builtin"] and r["kinds"] for r in records.values())

    spec = tmp_path / "uses_plugin.toml"
    spec.write_text(f'base = "{MINIMAL.as_posix()}"\nrequired_plugins = ["difflaws-halfway>=1.0"]\n'
                    '[noise.schedule]\nkind = "halfway"\nsharpness = 3.0\n')
    out = run_cli("validate", spec, env=env_for(site, "halfway"))
    assert out.returncode == 0, out.stderr
    assert 'kind = "halfway"' in out.stdout and "sharpness = 3.0" in out.stdout

    out = run_cli("kinds", "schedule", env=env_for(site, "halfway"))
    assert "halfway" in out.stdout and "sharpness" in out.stdout


def test_allow_list_empty_loads_no_third_party_plugin(fake_dist):
    site = fake_dist("difflaws-halfway", "1.2.0", {"halfway_plugin": SCHEDULE_PLUGIN},
                     {"halfway": "halfway_plugin"})
    out = run_cli("plugins", "--json", env=env_for(site, ""))
    assert "halfway" not in {r["name"] for r in json.loads(out.stdout)}
    out = run_cli("plugins", "--json", env=env_for(site))  # unset: load everything
    assert "halfway" in {r["name"] for r in json.loads(out.stdout)}


def test_broken_plugin_is_reported_and_isolated(fake_dist, tmp_path):
    site = fake_dist("difflaws-broken", "0.1.0", {"broken_plugin": BROKEN_PLUGIN},
                     {"broken": "broken_plugin"})
    env = env_for(site, "broken")
    out = run_cli("plugins", "--json", env=env)
    assert out.returncode == 0, out.stderr
    broken = {r["name"]: r for r in json.loads(out.stdout)}["broken"]
    assert "RuntimeError: this plugin is broken on purpose" in broken["error"]

    out = run_cli("validate", MINIMAL, env=env)  # a spec that does not need it still works
    assert out.returncode == 0, out.stderr

    spec = tmp_path / "needs_broken.toml"
    spec.write_text(f'base = "{MINIMAL.as_posix()}"\nrequired_plugins = ["difflaws-broken"]\n')
    out = run_cli("validate", spec, env=env)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "required_plugins.0" in out.stderr and "failed to load" in out.stderr


def test_required_plugin_version_is_enforced(fake_dist, tmp_path):
    site = fake_dist("difflaws-halfway", "1.2.0", {"halfway_plugin": SCHEDULE_PLUGIN},
                     {"halfway": "halfway_plugin"})
    spec = tmp_path / "too_new.toml"
    spec.write_text(f'base = "{MINIMAL.as_posix()}"\nrequired_plugins = ["difflaws-halfway>=2"]\n')
    out = run_cli("validate", spec, env=env_for(site, "halfway"))
    assert out.returncode == 2 and "1.2.0" in out.stderr and ">=2" in out.stderr


def test_pip_installed_package_is_discovered(tmp_path):
    """The real route: a package with a pyproject entry point, installed by pip."""
    pkg = tmp_path / "pkg"
    (pkg / "difflaws_halfway").mkdir(parents=True)
    (pkg / "difflaws_halfway" / "__init__.py").write_text(SCHEDULE_PLUGIN)
    (pkg / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "difflaws-halfway"\nversion = "0.3.0"\n'
        '[project.entry-points.difflaws]\nhalfway = "difflaws_halfway"\n')
    target = tmp_path / "target"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--no-index", "--target", str(target), str(pkg)],
                   check=True, capture_output=True)
    out = run_cli("plugins", "--json", env=env_for(target, "halfway"))
    record = {r["name"]: r for r in json.loads(out.stdout)}["halfway"]
    assert record["version"] == "0.3.0" and record["error"] is None


@pytest.mark.slow
def test_example_package_trains_a_spec_without_touching_the_core(tmp_path):
    """plugins/difflaws-example, found through its entry point, drives a real run."""
    example = REPO / "plugins" / "difflaws-example"
    metadata = tmp_path / "meta"
    info = metadata / "difflaws_example-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: difflaws-example\nVersion: 0.1.0\n")
    declared = tomllib.loads((example / "pyproject.toml").read_text())
    (entry_point,) = declared["project"]["entry-points"]["difflaws"].items()
    (info / "entry_points.txt").write_text("[difflaws]\n%s = %s\n" % entry_point)
    spec = tmp_path / "laplace.toml"
    spec.write_text(f'base = "{MINIMAL.as_posix()}"\nrequired_plugins = ["difflaws-example"]\n'
                    '[noise.schedule]\nkind = "laplace"\ncenter = 1.0\n'
                    '[data]\nkind = "markov"\nn_symbols = 8\ntrain_tokens = 4000\n'
                    'val_tokens = 1000\n[train]\nsteps = 2\nlog_every = 1\neval_every = 2\n'
                    'eval_batches = 1\ncheckpoint_every = 2\nwarmup_steps = 0\n')
    env = {"PYTHONPATH": f"{metadata}{os.pathsep}{example}", "DIFFLAWS_LOAD_PLUGINS": "example"}
    out = run_cli("run", spec, "--out", tmp_path / "run", "--quiet", env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'kind = "laplace"' in (tmp_path / "run" / "spec.toml").read_text()
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["val_nelbo"] > 0
    provenance = json.loads((tmp_path / "run" / "provenance.json").read_text())
    assert provenance["plugins"]["example"]["version"] == "0.1.0"
