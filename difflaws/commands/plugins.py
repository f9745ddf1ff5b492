"""``difflaws plugins``: what is installed, what it registers, what is broken."""

import json

import attrs

from difflaws.plugins import default_host

NAME = "plugins"
HELP = "list loaded plugins, their kinds and commands, and plugins that failed to load"


def add_arguments(parser):
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def main(args) -> int:
    records = sorted(default_host().records.values(), key=lambda r: (not r.builtin, r.name))
    if args.json:
        print(json.dumps([attrs.asdict(r) for r in records], indent=2))
        return 0
    for r in records:
        origin = "built-in" if r.builtin else f"{r.distribution or '?'} {r.version or ''}".strip()
        state = "ok" if r.ok else "BROKEN"
        print(f"{r.name}  [{origin}]  {state}")
        for label, value in [("entry point", r.entry_point), ("kinds", ", ".join(r.kinds)),
                             ("commands", ", ".join(r.commands)), ("error", r.error),
                             *(("warning", w) for w in r.warnings)]:
            if value:
                print(f"    {label}: {value}")
    return 0
