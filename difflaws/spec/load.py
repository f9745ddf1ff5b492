"""Read a spec: TOML → ``base`` chain → ``--set`` overrides → typed ``Spec``."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import attrs
from cattrs.errors import BaseValidationError

from difflaws.spec.converter import flatten
from difflaws.errors import FieldError, Problem, SpecError
from difflaws.paths import os_reason

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib

MAX_BASE_DEPTH = 16


@attrs.frozen
class RawSpec:
    """The merged TOML data plus, for each key path, the file that set it."""

    data: dict
    origins: dict[str, str]
    path: Path

    def origin(self, dotted: str) -> str:
        parts = dotted.split(".") if dotted else []
        for n in range(len(parts), 0, -1):
            if (key := ".".join(parts[:n])) in self.origins:
                return self.origins[key]
        return str(self.path)


def read_toml(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(Problem("", "file not found", str(path)), fix="check the path") from None
    except IsADirectoryError:
        raise SpecError(Problem("", "is a directory, not a TOML file", str(path)),
                        fix="pass the spec file itself") from None
    except UnicodeDecodeError as exc:
        raise SpecError(Problem("", f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                                str(path)), fix="save the spec as UTF-8 TOML") from None
    except (OSError, ValueError) as exc:  # ValueError: a path with a NUL byte
        raise SpecError(Problem("", f"cannot read: {os_reason(exc)}", str(path)),
                        fix="check the path and its permissions") from None
    data = parse_toml(text, str(path))
    check_depth(data, str(path))
    return data


#: tables and arrays nest at most this deep in a spec (deeper is a mistake, and Python's
#: recursion in tomllib, deepcopy and cattrs would overflow on it)
MAX_NESTING = 32


def parse_toml(text: str, source: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message already ends with "(at line L, column C)"
        raise SpecError(
            Problem("", f"malformed TOML: {exc}", source),
            fix="fix the TOML syntax at that line and column",
        ) from None
    except RecursionError:
        raise SpecError(Problem("", f"arrays or tables nest too deeply (at most {MAX_NESTING} "
                                    "levels)", source),
                        fix="flatten the nested arrays/inline tables") from None
    except ValueError as exc:  # e.g. an integer literal with more than 4300 digits
        what = "an integer literal has thousands of digits" if "digits" in str(exc) else exc
        raise SpecError(Problem("", f"malformed TOML: {what}", source),
                        fix="write a number TOML can hold (integers are 64-bit)") from None


def check_depth(data, source: str, prefix: str = "") -> None:
    """Refuse values nested deeper than ``MAX_NESTING`` (iteratively: no recursion)."""
    stack = [(data, prefix, 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_NESTING:
            raise SpecError(Problem(path, f"nested more than {MAX_NESTING} levels deep", source),
                            fix="flatten the nested arrays/inline tables")
        if isinstance(value, dict):
            stack.extend((v, f"{path}.{k}" if path else str(k), depth + 1)
                         for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, f"{path}.{i}" if path else str(i), depth + 1)
                         for i, v in enumerate(value))


def _walk(data: dict, prefix: str = ""):
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else key
        yield dotted, value
        if isinstance(value, dict):
            yield from _walk(value, dotted)


def deep_merge(base: dict, top: dict) -> dict:
    """Tables merge key by key; any other value in ``top`` replaces ``base``'s.

    A component table whose ``kind`` changes is replaced whole: the base's keys
    belong to another kind's config and would be unknown keys in this one.
    """
    out = copy.deepcopy(base)
    for key, value in top.items():
        old = out.get(key)
        if (isinstance(value, dict) and isinstance(old, dict)
                and value.get("kind", old.get("kind")) == old.get("kind")):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_with_bases(path: Path, _chain: tuple = ()) -> RawSpec:
    path = Path(path)
    if path.resolve() in _chain:
        cycle = " -> ".join(str(p) for p in (*_chain, path.resolve()))
        raise SpecError(Problem("base", f"base specs form a cycle: {cycle}", str(path)),
                        fix="remove the 'base' key of one spec in the cycle")
    if len(_chain) > MAX_BASE_DEPTH:
        raise SpecError(Problem("base", f"base chain is deeper than {MAX_BASE_DEPTH} specs",
                                str(path)), fix="shorten the chain of 'base' specs")
    data = read_toml(path)
    origins = {dotted: str(path) for dotted, _ in _walk(data)}
    base = data.pop("base", None)
    if base is None:
        return RawSpec(data, origins, path)
    if not isinstance(base, str):
        raise SpecError(Problem("base", f"expected a path string, got {type(base).__name__}",
                                str(path)), fix='write base = "other.toml"')
    base_path = path.parent / base
    try:
        found = base_path.is_file()
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte
        raise SpecError(Problem("base", f"cannot use base spec path: {os_reason(exc)}",
                                str(path)),
                        fix="make 'base' a path relative to the spec that names it") from None
    if not found:
        shown = base if len(base) <= 200 else f"{base[:200]}..."
        raise SpecError(
            Problem("base", f"base spec {shown!r} not found (looked in {path.parent})", str(path)),
            fix="make 'base' a path relative to the spec that names it",
        )
    parent = read_with_bases(base_path, (*_chain, path.resolve()))
    merged = deep_merge(parent.data, data)
    return RawSpec(merged, {**parent.origins, **origins}, path)


_KEY_PART = re.compile(r"[A-Za-z0-9_-]+")


def parse_override(item: str, flag: str = "--set") -> tuple[str, object]:
    """``noise.shift=2.0`` → (``"noise.shift"``, ``2.0``), values read as TOML literals."""
    key, sep, text = item.partition("=")
    key, text = key.strip(), text.strip()
    shown = item if len(item) <= 200 else f"{item[:200]}..."
    if not sep or not key:
        raise SpecError(Problem("", f"{flag} {shown!r} is not KEY=VALUE", flag),
                        fix=f"write it as {flag} noise.shift=2.0")
    if not all(_KEY_PART.fullmatch(part) for part in key.split(".")):
        raise SpecError(Problem(key if len(key) <= 200 else key[:200] + "...",
                                "not a dotted key (parts are letters, digits, _ and -)", flag),
                        fix=f"write it as {flag} train.steps=200")
    if "\n" in text or "\r" in text:
        raise SpecError(Problem(key, f"{flag} value spans several lines", flag),
                        fix=f"give one TOML literal on one line, e.g. {flag} {key}=[1, 2]")
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError as exc:
        if text[:1] in ("[", "{", '"', "'"):  # meant as an array, a table or a string
            reason = str(exc).replace("(at line 1, ", "(at ")
            raise SpecError(Problem(key, f"{flag} value {text[:200]!r} is not a TOML value: "
                                         f"{reason}", flag),
                            fix=f"write a TOML literal ({flag} {key}=2.0, {key}=[1, 2], "
                                f"{key}='text'); quote strings") from None
        value = text  # a bare word is a string: --set data.kind=markov
    except (RecursionError, ValueError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise SpecError(Problem(key, f"{flag} value is not a usable TOML value: {reason}", flag),
                        fix=f"write a plain TOML literal, e.g. {flag} {key}=2.0") from None
    check_depth(value, flag, key)
    return key, value


def apply_overrides(raw: RawSpec, overrides: list[str]) -> RawSpec:
    data = copy.deepcopy(raw.data)
    origins = dict(raw.origins)
    for item in overrides:
        key, value = parse_override(item)
        node = data
        *parents, leaf = key.split(".")
        for i, part in enumerate(parents):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                prefix = ".".join(parents[: i + 1])
                raise SpecError(Problem(prefix, f"is not a table, cannot set {key}", "--set"),
                                fix=f"set {prefix} itself, e.g. --set {prefix}=..., or drop "
                                    "the override")
            node = child
        node[leaf] = value
        origins[key] = f"--set {item if len(item) <= 200 else item[:200] + '...'}"
    return RawSpec(data, origins, raw.path)


def structure(raw: RawSpec, cls, converter):
    try:
        return converter.structure(raw.data, cls)
    except BaseValidationError as exc:
        problems = [Problem(p, m, raw.origin(p)) for p, m in flatten(exc, cls)]
    except Exception as exc:  # a lone error outside cattrs' collection (e.g. top-level validator)
        problems = [Problem(p, m, raw.origin(p)) for p, m in flatten(exc, cls)]
    raise SpecError(problems, fix="see `difflaws kinds` for every kind and its keys")


def load_spec(path, overrides=(), host=None, cls=None):
    """Load, merge, override, check required plugins, and structure a spec."""
    from difflaws.plugins import default_host
    from difflaws.spec.model import Spec
    from difflaws.spec.requirements import check_required_plugins

    host = host or default_host()
    cls = cls or Spec
    raw = apply_overrides(read_with_bases(Path(path)), list(overrides))
    check_required_plugins(raw, host)
    try:
        spec = structure(raw, cls, host.converter)
    except SpecError as exc:
        broken = [f"{r.name} ({r.error})" for r in host.broken()]
        # a problem at a `kind` key is an unknown or missing kind: maybe the broken plugin's
        if broken and any(p.path.split(".")[-1] == "kind" for p in exc.problems):
            exc = SpecError(exc.problems, fix=f"{exc.fix}; these plugins failed to load and may "
                                                 f"provide the missing kind: {'; '.join(broken)}")
        raise exc from None
    if hasattr(spec, "name") and not spec.name:
        try:
            spec = attrs.evolve(spec, name=Path(path).stem)
        except FieldError as exc:  # the stem is not a safe run name
            raise SpecError(Problem(exc.field, f"{exc} (the file's stem, as name is unset)",
                                    str(path)), fix="set name in the spec") from None
    return spec


def resolved_toml(spec, host=None) -> str:
    """The spec with every default filled in, as TOML text."""
    import tomli_w

    from difflaws.plugins import default_host

    host = host or default_host()
    return tomli_w.dumps(_drop_none(host.converter.unstructure(spec)))


def _drop_none(value):
    # TOML has no null: an unset optional key is simply absent.
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_drop_none(v) for v in value]
    return value
