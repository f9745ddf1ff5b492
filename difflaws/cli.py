"""The ``difflaws`` command: a thin dispatcher over one module per command."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import difflaws
from difflaws.spec.errors import UserError


def builtin_commands() -> list:
    import difflaws.commands as pkg

    return [importlib.import_module(f"{pkg.__name__}.{m.name}")
            for m in pkgutil.iter_modules(pkg.__path__)]


def build_parser(commands) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="difflaws",
        description="Train discrete diffusion LMs from TOML specs and fit their scaling laws.",
    )
    parser.add_argument("--version", action="version", version=f"difflaws {difflaws.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in sorted(commands, key=lambda c: c.NAME):
        p = sub.add_parser(command.NAME, help=command.HELP, description=command.HELP)
        p.add_argument("--version", action="version", version=f"difflaws {difflaws.__version__}")
        command.add_arguments(p)
        p.set_defaults(_command=command)
    return parser


def _plugin_commands() -> list:
    # --help must survive a broken environment, so plugin commands are best-effort.
    try:
        from difflaws.plugins import default_host

        return default_host().commands()
    except Exception as exc:  # pragma: no cover - reported, never fatal
        print(f"difflaws: warning: plugin commands unavailable: {exc}", file=sys.stderr)
        return []


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(builtin_commands() + _plugin_commands())
    args = parser.parse_args(argv)
    if not getattr(args, "_command", None):
        parser.print_help()
        return 2
    try:
        return int(args._command.main(args) or 0)
    except UserError as exc:
        print(f"difflaws {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("difflaws: interrupted", file=sys.stderr)
        return 130
