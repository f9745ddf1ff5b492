"""A run directory written by an older difflaws re-opens: keys added since at their
defaults (``[objective]``, ``data.unique_tokens``) do not make it "a different spec"."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from difflaws import engine
from difflaws.errors import SpecError
from difflaws.plugins import PluginHost

MINIMAL = Path(__file__).parent / "specs" / "minimal.toml"


@pytest.fixture
def host():
    return PluginHost(entry_points=False)


def older(text: str) -> str:
    """The resolved spec as a difflaws without objectives and unique tokens wrote it."""
    text = re.sub(r"\[objective\]\nkind = \"diffusion\"\n\n", "", text)
    return re.sub(r"unique_tokens = 0\n", "", text)


def test_an_older_spec_file_is_the_same_spec(tmp_path, host):
    spec = engine.load(MINIMAL, host=host)
    run_dir = engine.open_run_dir(spec, str(tmp_path / "run"), host=host)
    path = run_dir / engine.SPEC_FILE
    old = older(path.read_text())
    assert old != path.read_text()  # the test rewrites something
    path.write_text(old)
    (run_dir / engine.SPEC_HASH_FILE).write_text(f"{engine.sha256_text(old)}  spec.toml\n")
    assert engine.spec_matches(spec, run_dir, host=host)
    engine.check_run_dir(spec, run_dir, host=host)  # no "holds a different spec"


def test_another_spec_is_still_refused(tmp_path, host):
    spec = engine.load(MINIMAL, host=host)
    run_dir = engine.open_run_dir(spec, str(tmp_path / "run"), host=host)
    other = engine.load(MINIMAL, ["seed=7"], host=host)
    assert not engine.spec_matches(other, run_dir, host=host)
    with pytest.raises(SpecError, match="holds a different spec"):
        engine.check_run_dir(other, run_dir, host=host)
