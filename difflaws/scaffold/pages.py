"""The plugin guide's worked examples, one page per category, rendered from the scaffold.

Each page is exactly what ``difflaws plugin new example-CATEGORY --category CATEGORY``
writes, so the guide shows code that the scaffold's tests prove works.  The pages
are committed under ``docs/examples/``; a test checks they are current, and
``python -m difflaws.scaffold.pages docs/examples`` rewrites them.
"""

from __future__ import annotations

import sys
from pathlib import Path

from string import Template

from difflaws.registry import CATEGORIES
from difflaws.scaffold import names, render, templates

FENCE = {".py": "python", ".toml": "toml"}


def page(category: str) -> str:
    """Markdown for one category: what the kind is, then every file of its package."""
    name = f"example-{category}"
    files = render(name, category)
    t = templates(category)
    lines = [f"# A {category} plugin", "",
             f"`difflaws plugin new {name} --category {category}` writes this package; "
             "`pip install -e difflaws-" + name + "` installs it, and its test passes as written.",
             "", f"The kind: {Template(t.SUMMARY).substitute(names(name, category))}.", ""]
    for path, text in files.items():
        if path == "README.md":
            continue
        lang = FENCE.get(Path(path).suffix, "text")
        lines += [f"## `{path}`", "", f"```{lang}", text.rstrip(), "```", ""]
    return "\n".join(lines)


def pages() -> dict[str, str]:
    return {f"{category}.md": page(category) for category in CATEGORIES}


def main(folder: str) -> int:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for name, text in pages().items():
        (out / name).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "docs/examples"))
