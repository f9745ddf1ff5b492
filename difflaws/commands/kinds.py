"""``difflaws kinds [NAME]``: the spec reference.

Every spec table (a run spec's top level, ``[train]``, ``[distributed]``, a
sweep spec's top level) and every registered kind, each key with its type,
default, allowed values and one-line description.  Descriptions are the
``doc`` metadata of the attrs fields (``difflaws.interfaces.key``); allowed
values are read off the fields' validators and types, so they cannot drift
from what loading a spec enforces.
"""

from __future__ import annotations

import functools
import json
import math
import sys
import textwrap
import types
import typing

import attrs
from attrs import validators as v

from difflaws.errors import UserError
from difflaws.interfaces import INTERFACES, ComponentConfig, is_interface
from difflaws.plugins import default_host
from difflaws.registry import CATEGORIES, did_you_mean
from difflaws.spec.types import ExtendedFloat

NAME = "kinds"
HELP = "the spec reference: every table and kind, with each key's type, default and allowed values"

WIDTH = 100  # text output stays readable on a terminal this wide


@functools.cache
def _spec_tables() -> dict[str, tuple[type, str]]:
    """Table name → (config class, where its keys go)."""
    from difflaws.distributed.config import DistributedConfig
    from difflaws.spec.model import Spec
    from difflaws.sweep.spec import SweepSpec
    from difflaws.train.config import TrainConfig

    return {"spec": (Spec, "the top-level keys of a run spec"),
            "train": (TrainConfig, "the [train] table of a run spec"),
            "distributed": (DistributedConfig, "the [distributed] table of a run spec"),
            "sweep": (SweepSpec, "the top-level keys of a sweep spec")}


#: keys the spec reader handles before structuring, so no config class declares them
READER_KEYS = {
    "spec": [{"name": "base", "type": "str", "default": "unset",
              "allowed": "a path relative to this file",
              "doc": "a spec to start from: its tables merge key by key under this file's"}],
}
READER_KEYS["sweep"] = READER_KEYS["spec"]


def add_arguments(parser):
    parser.add_argument("name", nargs="?", metavar="NAME",
                        help=f"a table ({', '.join(_spec_tables())}) or a category "
                             f"({', '.join(CATEGORIES)}); default: all of them")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


# -- types -------------------------------------------------------------------------------------
def _hints(cls) -> dict:
    """Field name → resolved annotation; fields whose annotation will not resolve keep the
    string (a plugin's class defined inside a function, say)."""
    try:
        return typing.get_type_hints(cls)
    except Exception:
        namespace = vars(sys.modules.get(cls.__module__, typing))
        hints = {}
        for f in attrs.fields(cls):
            try:
                hints[f.name] = eval(f.type, namespace) if isinstance(f.type, str) else f.type
            except Exception:
                hints[f.name] = f.type
        return hints


def _strip_none(tp) -> tuple[object, bool]:
    """``X | None`` → (X, True); anything else → (it, False)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) < len(typing.get_args(tp)):
            return (args[0] if len(args) == 1 else typing.Union[tuple(args)]), True
    return tp, False


def _is_table(tp) -> bool:
    return isinstance(tp, type) and (is_interface(tp) or attrs.has(tp))


def type_name(tp) -> str:
    tp, _ = _strip_none(tp)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if isinstance(tp, str):
        return tp
    if tp is ExtendedFloat:
        return "float"
    if tp is typing.Any:
        return "any"
    if origin is typing.Literal:
        return type(args[0]).__name__ if args else "any"
    if origin in (list, tuple) or tp in (list, tuple):
        items = [a for a in args if a is not Ellipsis]
        return f"list[{type_name(items[0])}]" if len(items) == 1 else "list"
    if origin is dict:
        return f"dict[{', '.join(type_name(a) for a in args)}]" if args else "dict"
    if _is_table(tp):
        return "table"
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


# -- values ------------------------------------------------------------------------------------
def toml_value(value, registry) -> str:
    """A value as it would be written in a spec."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(x, registry) for x in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{k} = {toml_value(x, registry)}" for k, x in value.items())
        return "{" + (f" {inner} " if inner else "") + "}"
    if isinstance(value, ComponentConfig):
        try:
            return f'{{kind = "{registry.kind_of(value).name}"}}'
        except KeyError:
            return "(table)"
    if attrs.has(type(value)):
        return "(its defaults)"
    return str(value)


def default_text(field, registry) -> str:
    default = field.default
    if default is attrs.NOTHING:
        return "required"
    if isinstance(default, attrs.Factory):
        if default.takes_self:
            return "(computed)"
        try:
            default = default.factory()
        except Exception:
            return "(computed)"
    return toml_value(default, registry)


# -- allowed values ----------------------------------------------------------------------------
# attrs keeps its validator classes private; one instance of each gives the class to compare
_AND = type(v.and_())
_OPTIONAL = type(v.optional(v.instance_of(int)))
_NUMBER = type(v.gt(0))
_IN = type(v.in_(()))
_INSTANCE_OF = type(v.instance_of(int))
_MIN_LEN = type(v.min_len(0))
_MAX_LEN = type(v.max_len(0))


def _number(bound) -> str:
    return format(bound, "g") if isinstance(bound, float) else str(bound)


def _flatten(validator) -> list:
    if validator is None:
        return []
    if isinstance(validator, (list, tuple)):
        return [x for item in validator for x in _flatten(item)]
    if isinstance(validator, _AND):
        return _flatten(list(validator._validators))
    return [validator]


def _bounds(numbers: list) -> list[str]:
    """``>= 0`` and ``<= 1`` together read ``in [0, 1]``; otherwise each on its own."""
    lower = [n for n in numbers if n.compare_op in (">", ">=")]
    upper = [n for n in numbers if n.compare_op in ("<", "<=")]
    if len(lower) == 1 and len(upper) == 1:
        lo, hi = lower[0], upper[0]
        return [f"in {'[' if lo.compare_op == '>=' else '('}{_number(lo.bound)}, "
                f"{_number(hi.bound)}{']' if hi.compare_op == '<=' else ')'}"]
    return [f"{n.compare_op} {_number(n.bound)}" for n in numbers]


def _alternatives(options, registry=None) -> str:
    return " | ".join(toml_value(o, registry) for o in options)


def describe_validator(validator, registry) -> tuple[list[str], bool]:
    """What the validator allows, as phrases, and whether it also allows unset (None)."""
    parts, numbers, optional = [], [], False
    for item in _flatten(validator):
        if isinstance(item, _OPTIONAL):
            inner, _ = describe_validator(item.validator, registry)
            parts += inner
            optional = True
        elif isinstance(item, _NUMBER):
            numbers.append(item)
        elif isinstance(item, _IN):
            parts.append(_alternatives(item.options, registry))
        elif isinstance(item, _MIN_LEN):
            parts.append("non-empty" if item.min_length == 1 else f"length >= {item.min_length}")
        elif isinstance(item, _MAX_LEN):
            parts.append(f"length <= {item.max_length}")
        elif isinstance(item, _INSTANCE_OF):
            pass  # the type column says it
        elif isinstance(item, types.FunctionType) and item.__doc__:
            parts.append(item.__doc__.strip().splitlines()[0].rstrip("."))  # a custom check
    return _bounds(numbers) + parts, optional


def _kinds_of(category: str, registry) -> str:
    names = registry.names(category)
    return _alternatives(names) if names else "(none registered)"


def describe_type(tp, registry) -> str:
    """What a field of this type accepts when no validator says more."""
    tables = {cls: name for name, (cls, _) in _spec_tables().items()}
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is bool:
        return "true | false"
    if tp is str:
        return "any string"
    if tp is int:
        return "any integer"
    if tp is float:
        return "any finite number"
    if tp is ExtendedFloat:
        return "any number, or ±inf"
    if origin is typing.Literal:
        return _alternatives(args, registry)
    if is_interface(tp):
        return f"a [{tp.category}] table: kind = {_kinds_of(tp.category, registry)}"
    if isinstance(tp, type) and attrs.has(tp):
        name = tables.get(tp)
        return f"a [{name}] table (difflaws kinds {name})" if name else "a table"
    if origin in (list, tuple) and args and is_interface(args[0]):
        category = args[0].category
        return f"a list of [{category}] tables: kind = {_kinds_of(category, registry)}"
    if origin in (list, tuple) or tp in (list, tuple):
        return f"a list of {_plural(args[0])}" if args and args[0] is not Ellipsis else "a list"
    if origin is dict or tp is dict:
        return f"a table of {_plural(args[1])}" if len(args) == 2 and args[1] is not typing.Any \
            else "a table"
    return f"a {type_name(tp)}"


def _plural(tp) -> str:
    return {str: "strings", int: "integers", float: "numbers", bool: "booleans"}.get(
        tp, f"{type_name(tp)} values")


def allowed_text(field, tp, registry) -> str:
    base, optional_type = _strip_none(tp)
    parts, optional = describe_validator(field.validator, registry)
    text = ", ".join(parts) if parts else describe_type(base, registry)
    return f"{text} or unset" if optional or optional_type else text


# -- tables ------------------------------------------------------------------------------------
def _doc(field) -> str:
    return " ".join(str(field.metadata.get("doc", "")).split())


def describe_fields(cls, registry) -> list[dict]:
    hints = _hints(cls)
    return [{"name": f.name, "type": type_name(hints.get(f.name, f.type)),
             "default": default_text(f, registry),
             "allowed": allowed_text(f, hints.get(f.name, f.type), registry), "doc": _doc(f)}
            for f in attrs.fields(cls)]


def _summary(cls) -> str:
    return (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ").rstrip(".")


def describe_table(name: str, registry) -> dict:
    cls, where = _spec_tables()[name]
    return {"table": name, "summary": _summary(cls), "where": where,
            "fields": READER_KEYS.get(name, []) + describe_fields(cls, registry)}


def _own_fields(kind) -> list:
    """The kind's fields that its category's interface does not declare exactly so (the
    types compared resolved: structuring a class resolves its annotations in place)."""
    interface = INTERFACES[kind.category]
    shared, hints, shared_hints = attrs.fields_dict(interface), _hints(kind.config), \
        _hints(interface)

    def same(f) -> bool:
        s = shared[f.name]
        return (f.default is s.default and f.validator is s.validator
                and f.metadata == s.metadata and hints[f.name] == shared_hints[f.name])

    return [f for f in attrs.fields(kind.config) if f.name not in shared or not same(f)]


def used_at(registry) -> dict[str, list[str]]:
    """Category → the spec tables where its kinds go, e.g. schedule → [noise.schedule]."""
    out: dict[str, list[str]] = {}

    def walk(cls, prefix: str, spec: str = "") -> None:
        hints = _hints(cls)
        for name in attrs.fields_dict(cls):
            tp, _ = _strip_none(hints.get(name))
            args = typing.get_args(tp)
            many = typing.get_origin(tp) in (list, tuple) and args and is_interface(args[0])
            target = args[0] if many else tp
            if is_interface(target):
                path = f"[[{prefix}{name}]]" if many else f"[{prefix}{name}]"
                out.setdefault(target.category, []).append(path + spec)

    tables = _spec_tables()
    walk(tables["spec"][0], "")
    walk(tables["sweep"][0], "", " of a sweep spec")
    for kind in registry.kinds():
        walk(kind.config, f"{kind.category}.")
    return {c: sorted(set(paths)) for c, paths in out.items()}


def describe_category(category: str, registry, used: dict[str, list[str]]) -> dict:
    """``used``: what :func:`used_at` returns."""
    interface = INTERFACES[category]
    default = registry.default(category)
    kinds = [{"kind": k.name, "plugin": k.plugin, "summary": k.summary.rstrip("."),
              "default": k.name == default, "fields": describe_fields(k.config, registry),
              "own_fields": [f.name for f in _own_fields(k)]}
             for k in registry.kinds(category)]
    return {"category": category, "summary": CATEGORIES[category], "default_kind": default,
            "used_at": used.get(category, []),
            "shared_fields": describe_fields(interface, registry), "kinds": kinds}


# -- text --------------------------------------------------------------------------------------
#: the widest a column's cells get aligned to; a longer cell goes on its own line below the key
CAPS = {"name": 24, "type": 14, "default": 22, "allowed": 36}


def _wrap(text: str, indent: int, hang: int = 0, verbatim: bool = False) -> list[str]:
    """``text`` wrapped to WIDTH at ``indent``, continuation lines ``hang`` columns further in;
    ``verbatim`` keeps every space (a value such as a regex), where it breaks a line too."""
    return textwrap.wrap(text, WIDTH, initial_indent=" " * indent,
                         subsequent_indent=" " * (indent + hang), break_on_hyphens=False,
                         drop_whitespace=not verbatim)


def _headline(label: str, text: str, indent: int, gap: int = 2, verbatim: bool = False):
    """``label  text``, wrapped so the text hangs beside the label."""
    return _wrap(label + " " * gap + text, indent, len(label) + gap, verbatim)


def render_fields(fields: list[dict], indent: int) -> list[str]:
    """One row per key in aligned columns (name, type, default, allowed), then its doc, inline
    when the row has room, else wrapped on the lines below.  A default too long for its column,
    or an allowed value too long for the row, goes below too, labelled."""
    widths = {c: max([len(f[c]) for f in fields if len(f[c]) <= cap] or [0])
              for c, cap in CAPS.items()}
    lines = []
    for f in fields:
        cells = {c: f[c].ljust(widths[c]) for c in CAPS}
        below = ["default"] if len(f["default"]) > CAPS["default"] else []
        if below:
            cells["default"] = "↓".ljust(widths["default"])
        row = " " * indent + "  ".join(cells.values())
        if len(row.rstrip()) > WIDTH:
            below.append("allowed")
            row = row[:len(row) - len(cells["allowed"])] + "↓"
        if f["doc"] and not below and len(row) + 2 + len(f["doc"]) <= WIDTH:
            lines.append(f"{row}  {f['doc']}")
            continue
        lines.append(row.rstrip())
        lines += _wrap(f["doc"], indent + 4)
        for c in below:
            lines += _headline(f"{c}:", f[c], indent + 4, gap=1, verbatim=c == "default")
    return lines


def render_table(entry: dict) -> list[str]:
    lines = _headline(f"[{entry['table']}]", f"{entry['summary']}; {entry['where']}", 0)
    return lines + render_fields(entry["fields"], 2)


def render_category(entry: dict) -> list[str]:
    lines = _headline(f"[{entry['category']}]", entry["summary"], 0)
    if entry["used_at"]:
        lines.append(f"  set in {', '.join(entry['used_at'])}")
    if entry["shared_fields"]:
        lines.append(f"  keys of every {entry['category']} kind:")
        lines += render_fields(entry["shared_fields"], 4)
    for kind in entry["kinds"]:
        label = f'kind = "{kind["kind"]}"' + (" (default)" if kind["default"] else "")
        third_party = not kind["plugin"].startswith("difflaws.builtins.")
        plugin = f" [{kind['plugin']}]" if third_party else ""
        lines += _headline(label, kind["summary"] + plugin, 2)
        lines += render_fields([f for f in kind["fields"] if f["name"] in kind["own_fields"]], 4)
    return lines


# -- the command -------------------------------------------------------------------------------
def main(args) -> int:
    registry = default_host().registry
    tables, categories = list(_spec_tables()), list(CATEGORIES)
    if args.name:
        if args.name not in tables + categories:
            names = tables + categories
            raise UserError(f"unknown table or category {args.name!r}"
                            f"{did_you_mean(args.name, names)} (available: {', '.join(names)})")
        tables = [t for t in tables if t == args.name]
        categories = [c for c in categories if c == args.name]
    used = used_at(registry) if categories else {}
    report = {"tables": [describe_table(t, registry) for t in tables],
              "categories": [describe_category(c, registry, used) for c in categories]}
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return 0
    blocks = [render_table(t) for t in report["tables"]]
    blocks += [render_category(c) for c in report["categories"]]
    print("\n\n".join("\n".join(block) for block in blocks))
    return 0
