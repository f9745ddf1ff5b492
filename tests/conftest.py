"""Shared test setup: no third-party plugin leaks in, and helpers to fake one."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# Installed third-party plugins must never change what a test sees.
os.environ["DIFFLAWS_LOAD_PLUGINS"] = ""

REPO = Path(__file__).resolve().parents[1]
# published scaling-law data sets, shipped with the tests (see tests/data/README.md)
DATA = Path(__file__).resolve().parent / "data"


def run_cli(*args, env=None, cwd=None, timeout=600):
    """Run ``python -m difflaws`` in a subprocess, as a user would."""
    full_env = {**os.environ, **(env or {})}
    full_env = {k: v for k, v in full_env.items() if v is not None}  # None unsets a variable
    return subprocess.run([sys.executable, "-m", "difflaws", *map(str, args)],
                          capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout)


def make_dist(root: Path, dist: str, version: str, modules: dict[str, str],
              entry_points: dict[str, str]) -> Path:
    """Lay out an importable distribution with entry points, as pip would.

    The ``.dist-info`` folder is what ``importlib.metadata`` reads, so putting
    ``root`` on ``PYTHONPATH`` makes the plugin discoverable exactly like an
    installed package, without a network or a build step.
    """
    root.mkdir(parents=True, exist_ok=True)
    for name, source in modules.items():
        (root / f"{name}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    eps = "\n".join(f"{k} = {v}" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[difflaws]\n{eps}\n")
    return root


@pytest.fixture
def fake_dist(tmp_path):
    def make(dist, version, modules, entry_points):
        return make_dist(tmp_path / "site", dist, version, modules, entry_points)

    return make


@pytest.fixture
def published_data():
    return DATA
