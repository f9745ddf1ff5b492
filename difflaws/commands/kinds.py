"""``difflaws kinds [CATEGORY]``: every registered kind and its config keys."""

import json

import attrs

from difflaws.plugins import default_host
from difflaws.registry import CATEGORIES, UnknownKindError
from difflaws.spec.errors import UserError

NAME = "kinds"
HELP = "list every registered kind with its config keys, types and defaults"


def add_arguments(parser):
    parser.add_argument("category", nargs="?", help=f"one of: {', '.join(CATEGORIES)}")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _type(field) -> str:
    tp = field.type
    if isinstance(tp, str):
        return tp
    return getattr(tp, "__name__", str(tp)).replace("typing.", "")


def _default(field):
    if field.default is attrs.NOTHING:
        return "required"
    if isinstance(field.default, attrs.Factory):
        try:
            value = field.default.factory()
        except Exception:
            return "(computed)"
        return repr(value) if not attrs.has(type(value)) else "(table)"
    return repr(field.default)


def describe(kind) -> dict:
    return {
        "category": kind.category, "kind": kind.name, "plugin": kind.plugin,
        "summary": kind.summary,
        "fields": [{"name": f.name, "type": _type(f), "default": _default(f)}
                   for f in attrs.fields(kind.config)],
    }


def main(args) -> int:
    if args.category and args.category not in CATEGORIES:
        err = UnknownKindError("category", args.category, list(CATEGORIES))
        raise UserError(str(err).replace("category kind", "category"))
    entries = [describe(k) for k in default_host().registry.kinds(args.category)]
    if args.json:
        print(json.dumps(entries, indent=2))
        return 0
    category = None
    for e in entries:
        if e["category"] != category:
            category = e["category"]
            print(f"[{category}]  {CATEGORIES[category]}")
        print(f"  {e['kind']:<16} {e['summary']}  ({e['plugin']})")
        for f in e["fields"]:
            print(f"      {f['name']:<22} {f['type']:<18} = {f['default']}")
    return 0
