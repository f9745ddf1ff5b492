"""Read a spec: TOML → ``base`` chain → ``--set`` overrides → typed ``Spec``."""

from __future__ import annotations

import copy
from pathlib import Path

import attrs
from cattrs.errors import BaseValidationError

from difflaws.spec.converter import flatten
from difflaws.spec.errors import Problem, SpecError

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
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(Problem("", f"cannot read: {exc}", str(path))) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message already ends with "(at line L, column C)"
        raise SpecError(
            Problem("", f"malformed TOML: {exc}", str(path)),
            fix="fix the TOML syntax at that line and column",
        ) from None


def _walk(data: dict, prefix: str = ""):
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else key
        yield dotted, value
        if isinstance(value, dict):
            yield from _walk(value, dotted)


def deep_merge(base: dict, top: dict) -> dict:
    """Tables merge key by key; any other value in ``top`` replaces ``base``'s."""
    out = copy.deepcopy(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_with_bases(path: Path, _chain: tuple = ()) -> RawSpec:
    path = Path(path)
    if path.resolve() in _chain:
        cycle = " -> ".join(str(p) for p in (*_chain, path.resolve()))
        raise SpecError(Problem("base", f"base specs form a cycle: {cycle}", str(path)))
    if len(_chain) > MAX_BASE_DEPTH:
        raise SpecError(Problem("base", "base chain is too deep", str(path)))
    data = read_toml(path)
    origins = {dotted: str(path) for dotted, _ in _walk(data)}
    base = data.pop("base", None)
    if base is None:
        return RawSpec(data, origins, path)
    if not isinstance(base, str):
        raise SpecError(Problem("base", "expected a path string", str(path)))
    base_path = (path.parent / base)
    if not base_path.is_file():
        raise SpecError(
            Problem("base", f"base spec {base!r} not found (looked in {base_path})", str(path)),
            fix="make 'base' a path relative to the spec that names it",
        )
    parent = read_with_bases(base_path, (*_chain, path.resolve()))
    merged = deep_merge(parent.data, data)
    return RawSpec(merged, {**parent.origins, **origins}, path)


def parse_override(item: str) -> tuple[str, object]:
    """``noise.shift=2.0`` → (``"noise.shift"``, ``2.0``), values read as TOML literals."""
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise SpecError(Problem("", f"--set {item!r} is not KEY=VALUE", "--set"),
                        fix="write it as --set noise.shift=2.0")
    try:
        value = tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = text.strip()  # a bare word is a string: --set data.kind=markov
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
                raise SpecError(Problem(prefix, f"is not a table, cannot set {key}", "--set"))
            node = child
        node[leaf] = value
        origins[key] = f"--set {item}"
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
        spec = attrs.evolve(spec, name=Path(path).stem)
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
