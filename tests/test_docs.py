"""The documentation site builds offline with ``mkdocs build --strict``, and its
pages cover what the code points at: every interface module has an API block,
and every ``docs/theory.md §N`` / ``docs/fitting.md §N`` citation names a
section that exists."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CITING = ("difflaws", "bench", "specs", "tests", "plugins", "docs")
SUFFIXES = {".py", ".toml", ".md"}


def test_mkdocs_is_installed():
    # CI installs these through the `test` extra; a missing one must fail, not skip
    import mkdocs  # noqa: F401
    import mkdocstrings  # noqa: F401
    import mkdocstrings_handlers.python  # noqa: F401


def test_site_builds_strictly(tmp_path):
    site = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    for page in ("index.html", "theory/index.html", "fitting/index.html",
                 "plugins/index.html", "api/index.html"):
        assert (site / page).is_file(), page
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    assert "mixing distribution" in api  # NoiseConfig's docstring
    for name in ("difflaws.noise.process.NoiseProcess", "difflaws.fit.result.FitResult",
                 "difflaws_register_kinds"):
        assert name in api, name


def test_api_page_has_a_block_per_interface_module():
    api = (DOCS / "api.md").read_text(encoding="utf-8")
    modules = sorted(p.stem for p in (ROOT / "difflaws" / "interfaces").glob("*.py")
                     if p.stem != "__init__")
    assert modules
    missing = [m for m in modules if f"::: difflaws.interfaces.{m}\n" not in api]
    assert not missing, f"docs/api.md lacks a '::: difflaws.interfaces.<module>' block for {missing}"


_MARKER = re.compile(r"docs/(theory|fitting)\.md")
_SECTION = re.compile(r"§\s*(\d+(?:\.\d+)*)(?:\s*[-–]\s*(\d+(?:\.\d+)*))?")


def _citations():
    """(page, section, where) for every section cited after a docs/<page>.md marker on a line."""
    found = []
    for top in CITING:
        for path in sorted((ROOT / top).rglob("*")):
            if path.suffix not in SUFFIXES or not path.is_file() or "__pycache__" in path.parts:
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
                marks = list(_MARKER.finditer(line))
                for i, m in enumerate(marks):
                    end = marks[i + 1].start() if i + 1 < len(marks) else len(line)
                    for s in _SECTION.finditer(line[m.end():end]):
                        for num in filter(None, s.groups()):
                            found.append((m.group(1), num, f"{path.relative_to(ROOT)}:{n}"))
    return found


def _has_section(text: str, num: str) -> bool:
    return re.search(rf"^#+\s+{re.escape(num)}\.?\s", text, re.MULTILINE) is not None


def test_every_cited_section_exists():
    cites = _citations()
    assert any(page == "theory" for page, _, _ in cites)  # the scan itself works
    pages = {p: (DOCS / f"{p}.md").read_text(encoding="utf-8") for p in ("theory", "fitting")}
    missing = sorted({f"docs/{page}.md §{num} (cited at {where})" for page, num, where in cites
                      if not _has_section(pages[page], num)})
    assert not missing, "cited sections without a heading:\n" + "\n".join(missing)


def test_worked_examples_are_the_scaffold_output():
    """docs/examples/ is rendered from the templates `difflaws plugin new` writes, which
    tests/test_plugin_scaffold.py proves work; a stale page would teach dead code."""
    from difflaws.scaffold.pages import pages

    folder = DOCS / "examples"
    fresh = pages()
    assert sorted(p.name for p in folder.glob("*.md")) == sorted(fresh)
    for name, text in fresh.items():
        assert (folder / name).read_text(encoding="utf-8") == text, (
            f"docs/examples/{name} is stale: run python -m difflaws.scaffold.pages docs/examples")
