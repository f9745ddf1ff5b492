"""Templates for ``difflaws plugin new``: an installable plugin package for any category.

``render(name, category, kind)`` returns the package's files as ``{relative path: text}``
and ``write(target, files)`` puts them on disk atomically.  The files every package has
(pyproject, README, the test's fixture) are in :mod:`difflaws.scaffold.package`; each
category's own templates are in ``difflaws.scaffold.<category>``, which defines

* ``SUMMARY``: the kind's one-line description (its docstring's first line);
* ``USAGE``: how a spec or command uses the kind, for the README;
* ``PLUGIN``: ``plugin.py``, the config class and the hook that registers it;
* ``COMPONENT`` and ``SOURCE``: the component module's file name and text;
* ``TEST_IMPORTS`` (standard and third-party), ``TEST_DIFFLAWS`` (optional: difflaws
  imports) and ``TESTS``: what ``tests/test_plugin.py`` adds to the shared fixture.

Templates are ``string.Template`` texts: ``${module}``, ``${kind}``, ``${Kind}`` (the
kind's CamelCase, for class names) and the rest of :func:`names`.  Everything here is
plain strings, so the package needs no data files and imports nothing heavy.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from string import Template

import difflaws
from difflaws.errors import UserError
from difflaws.registry import CATEGORIES, did_you_mean

NAME_RE = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
DIST_PREFIX = "difflaws-"
TEST_HOST_IMPORT = "from difflaws.plugins import PluginHost, set_default_host"


def check_name(value: str, what: str = "NAME") -> str:
    """A plugin or kind name: lowercase letters, digits and single '-', starting with a letter."""
    if value.startswith(DIST_PREFIX) and NAME_RE.fullmatch(value):
        short = value[len(DIST_PREFIX):]
        raise UserError(f"{what} {value!r}: give the part after {DIST_PREFIX!r} "
                        f"(the package is named {DIST_PREFIX}NAME); try {short!r}")
    if not NAME_RE.fullmatch(value):
        hint = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")
        hint = f"; try {hint!r}" if hint and NAME_RE.fullmatch(hint) else ""
        raise UserError(f"{what} {value!r}: use lowercase letters, digits and '-' (not at the "
                        f"start or end, not doubled), starting with a letter{hint}")
    return value


def check_category(category: str) -> str:
    if category not in CATEGORIES:
        raise UserError(f"unknown category {category!r}{did_you_mean(category, CATEGORIES)} "
                        f"(categories: {', '.join(CATEGORIES)})")
    return category


def templates(category: str):
    """The module holding ``category``'s templates."""
    check_category(category)
    try:
        return importlib.import_module(f"{__name__}.{category}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{category}":
            raise
        raise UserError(f"difflaws {difflaws.__version__} has no plugin template for the "
                        f"{category} category yet") from None


def names(name: str, category: str, kind: str | None = None) -> dict[str, str]:
    """Every value a template may use."""
    kind = kind or name
    major, minor = difflaws.__version__.split(".")[:2]
    return {
        "name": name,  # the entry-point name `difflaws plugins` shows
        "dist": f"{DIST_PREFIX}{name}",
        "module": "difflaws_" + name.replace("-", "_"),
        "kind": kind,
        "Kind": "".join(part.capitalize() for part in kind.split("-")),
        "category": category,
        "requires": f"{major}.{minor}",
    }


def render(name: str, category: str, kind: str | None = None) -> dict[str, str]:
    """The package's files, ``{path relative to difflaws-NAME/: text}``."""
    from difflaws.scaffold import package

    check_name(name)
    if kind is not None:
        check_name(kind, "--kind")
    t = templates(category)
    values = names(name, category, kind)
    values["summary"] = Template(t.SUMMARY).substitute(values)
    values["component"] = t.COMPONENT
    values["usage"] = Template(t.USAGE).substitute(values).strip()
    values["test_imports"] = Template(t.TEST_IMPORTS).substitute(values).strip()
    own = Template(getattr(t, "TEST_DIFFLAWS", "")).substitute(values).strip().splitlines()
    values["difflaws_imports"] = "\n".join(sorted({*own, TEST_HOST_IMPORT}))
    values["tests"] = Template(t.TESTS).substitute(values).strip()
    module = values["module"]
    files = {
        "pyproject.toml": package.PYPROJECT,
        "README.md": package.README,
        f"{module}/__init__.py": package.INIT,
        f"{module}/plugin.py": t.PLUGIN,
        f"{module}/{t.COMPONENT}": t.SOURCE,
        "tests/test_plugin.py": package.TEST,
    }
    return {path: Template(text).substitute(values).strip() + "\n" for path, text in files.items()}


def write(target, files: dict[str, str]) -> Path:
    """Create the folder ``target`` holding ``files``, all at once or not at all.

    The files are written into a temporary sibling folder that is then renamed, so an
    interrupted run leaves no half-written package; an existing ``target`` is refused.
    """
    target = Path(target)
    if target.exists() or target.is_symlink():
        raise UserError(f"{target} already exists; remove it, or choose another NAME or --out")
    parent = target.parent
    if parent.exists() and not parent.is_dir():
        raise UserError(f"--out {parent}: not a folder")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=parent))
    except OSError as exc:
        raise UserError(f"--out {parent}: cannot create a folder there ({exc.strerror})") from None
    try:
        for rel, text in files.items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp's folder is private; the package need not be
        if target.exists():  # appeared meanwhile: never rename over it
            raise UserError(f"{target} already exists; remove it, or choose another NAME or --out")
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


__all__ = ["check_category", "check_name", "names", "render", "templates", "write"]
