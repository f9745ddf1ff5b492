"""The ``difflaws`` command: a thin dispatcher over one module per command."""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import pkgutil
import sys

import difflaws
from difflaws.errors import UserError
from difflaws.registry import RegistrationError


def builtin_commands() -> list:
    import difflaws.commands as pkg

    return [importlib.import_module(f"{pkg.__name__}.{m.name}")
            for m in pkgutil.iter_modules(pkg.__path__)]


def build_parser(commands, host=None) -> argparse.ArgumentParser:
    """A parser for the built-in ``commands``, then for the commands of ``host``'s plugins."""
    parser = argparse.ArgumentParser(
        prog="difflaws",
        description="Train discrete diffusion LMs from TOML specs and fit their scaling laws.",
    )
    parser.add_argument("--version", action="version", version=f"difflaws {difflaws.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in sorted(commands, key=lambda c: c.NAME):
        _add_command(sub, command)
    if host is not None:  # after the built-ins, so a plugin can never shadow one
        host.add_commands(functools.partial(_add_command, sub))
    return parser


def _add_command(sub, command, record=None) -> None:
    """Add one command (``record``: its plugin's); refuse one whose name is taken."""
    if command.NAME in sub.choices:
        owner = sub.choices[command.NAME].get_default("_plugin")
        raise RegistrationError("shadows " + (f"the command of plugin {owner.name!r}, loaded first"
                                              if owner else "the built-in command"))
    # argparse %-formats the listing's help: a stray "%" in one would break --help for all
    p = sub.add_parser(command.NAME, help=command.HELP.replace("%", "%%"), description=command.HELP)
    p.add_argument("--version", action="version", version=f"difflaws {difflaws.__version__}")
    p.set_defaults(_command=command, _plugin=record)
    try:
        command.add_arguments(p)
    except BaseException:
        # argparse cannot remove a sub-parser: undo add_parser, so --help does not list it
        del sub.choices[command.NAME]
        sub._choices_actions.pop()
        raise


def _host():
    # --help must survive a broken environment, so plugins are best-effort here
    try:
        from difflaws.plugins import default_host

        return default_host()
    except Exception as exc:  # pragma: no cover - reported, never fatal
        print(f"difflaws: warning: plugin commands unavailable: {exc}", file=sys.stderr)
        return None


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    host = _host()
    parser = build_parser(builtin_commands(), host)
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
    except BrokenPipeError:  # `difflaws kinds | head`: the reader left, which is no error
        # point stdout at /dev/null so the interpreter's final flush fails quietly too
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        record = args._plugin
        if record is None or host.strict:  # a bug in difflaws itself keeps its traceback
            raise
        from difflaws.plugins import STRICT_ENV, describe

        print(f"difflaws {args.command}: plugin {record.name!r} "
              f"({record.entry_point or record.module}) failed: {describe(exc, record)}; "
              f"set {STRICT_ENV}=1 for the traceback", file=sys.stderr)
        return 1
