"""A plugin that misbehaves is reported and rolled back; nothing else notices.

Every test installs two real distributions, ``good`` (a ``hello`` command) and
``bad`` (one way of being wrong), and drives the real CLI in a subprocess.
"""

from __future__ import annotations

import json
import os
import re
import textwrap

import pytest

from conftest import make_dist, run_cli

GOOD = '''
import sys
from difflaws import hookimpl

NAME = "hello"
HELP = "greet, from the good plugin"

def add_arguments(parser):
    parser.add_argument("--who", default="world")

def main(args):
    print(f"hello {args.who}")

@hookimpl
def difflaws_register_commands(register):
    register(sys.modules[__name__])
'''

COMMAND = '''
import sys
from difflaws import hookimpl

NAME = {name!r}
HELP = {help!r}

def add_arguments(parser):
    {add_arguments}

def main(args):
    {main}

@hookimpl
def difflaws_register_commands(register):
    register(sys.modules[__name__])  # REGISTERED
'''


def command(name="boom", add_arguments="pass", main="return 0", drop=None,
            help="a command from the bad plugin"):
    source = COMMAND.format(name=name, add_arguments=add_arguments, main=main, help=help)
    return source.replace(f"\ndef {drop}(", f"\ndef _not_{drop}(") if drop else source


def install(tmp_path, bad_source):
    """``good`` then ``bad`` on the path, in that order: the first one loaded wins a name."""
    roots = [make_dist(tmp_path / name, f"difflaws-{name}", "0.1.0", {f"{name}_plugin": source},
                       {name: f"{name}_plugin"})
             for name, source in (("good", GOOD), ("bad", bad_source))]
    env = {"PYTHONPATH": os.pathsep.join(map(str, roots)), "DIFFLAWS_LOAD_PLUGINS": "good,bad",
           "DIFFLAWS_STRICT_PLUGINS": None}
    return env, roots[1] / "bad_plugin.py"


def at(path, source, marker):
    """``path:line`` of the first line of ``source`` that contains ``marker``."""
    lines = textwrap.dedent(source).splitlines()
    return f"{path}:{next(i for i, line in enumerate(lines, 1) if marker in line)}"


def records(env):
    out = run_cli("plugins", "--json", env=env)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    return {r["name"]: r for r in json.loads(out.stdout)}


def assert_isolated(env, *, error, where):
    """``bad`` is listed broken with ``error`` at ``where``; the rest of difflaws works."""
    found = records(env)
    bad = found["bad"]
    assert bad["entry_point"] == "bad = bad_plugin" and bad["distribution"] == "difflaws-bad"
    assert error in bad["error"] and where in bad["error"], bad["error"]
    assert found["good"]["error"] is None and found["good"]["commands"] == ["hello"]

    listing = run_cli("plugins", env=env)
    assert listing.returncode == 0, listing.stderr
    assert re.search(r"^bad  \[difflaws-bad 0\.1\.0\]  BROKEN$", listing.stdout, re.M)
    assert "entry point: bad = bad_plugin" in listing.stdout
    assert f"error: {bad['error']}" in listing.stdout

    for args, expect in ((["kinds", "schedule"], "schedule"), (["--help"], "hello"),
                         (["hello", "--who", "you"], "hello you")):
        out = run_cli(*args, env=env)
        assert out.returncode == 0 and expect in out.stdout, (args, out.stderr)
        assert "Traceback" not in out.stderr
    return bad


def test_command_hook_that_raises_takes_down_only_its_plugin(tmp_path):
    source = '''
from difflaws import hookimpl

@hookimpl
def difflaws_register_commands(register):
    raise RuntimeError("no commands today")
'''
    env, path = install(tmp_path, source)
    bad = assert_isolated(env, error="RuntimeError: no commands today",
                          where=at(path, source, "raise"))
    assert bad["commands"] == []


@pytest.mark.parametrize("name, owner", [("run", "the built-in command"),
                                         ("hello", "the command of plugin 'good', loaded first")])
def test_command_that_shadows_another_is_refused(tmp_path, name, owner):
    source = command(name=name, main='print("the impostor")')
    env, path = install(tmp_path, source)
    bad = assert_isolated(env, error=f"command {name!r}: shadows {owner}",
                          where=at(path, source, "REGISTERED"))
    assert bad["commands"] == []
    out = run_cli(name, "--help", env=env)  # still the original's
    assert out.returncode == 0 and "the bad plugin" not in out.stdout
    assert "the impostor" not in run_cli("hello", env=env).stdout


@pytest.mark.parametrize("source, error, marker", [
    (command(add_arguments='parser.add_argument("--x", typo=1)'),
     "command 'boom': TypeError", "typo=1"),
    (command(add_arguments='parser.add_argument("--version")'),  # difflaws adds --version
     "command 'boom': ArgumentError", "--version"),
    (command(drop="main"), "lacks main", "REGISTERED"),
    (command(name="Not A Word"), "NAME 'Not A Word' is not a command word", "REGISTERED"),
], ids=["add_arguments-raises", "add_arguments-conflicts", "no-main", "bad-name"])
def test_malformed_command_is_dropped_and_reported(tmp_path, source, error, marker):
    env, path = install(tmp_path, source)
    assert_isolated(env, error=error, where=at(path, source, marker))
    out = run_cli("--help", env=env)
    assert "boom" not in out.stdout and "Not A Word" not in out.stdout


RAISE_ON_IMPORT = '''
import sys
raise {exc}
'''

RAISE_IN_HOOK = '''
import sys
from difflaws import hookimpl

@hookimpl
def {hook}(register):
    raise {exc}
'''


@pytest.mark.parametrize("source, error", [
    (RAISE_ON_IMPORT.format(exc="SystemExit(3)"), "SystemExit: 3"),
    (RAISE_ON_IMPORT.format(exc="KeyboardInterrupt"), "KeyboardInterrupt"),
    (RAISE_IN_HOOK.format(hook="difflaws_register_kinds", exc='SystemExit("bye")'),
     "SystemExit: bye"),
    (RAISE_IN_HOOK.format(hook="difflaws_register_commands", exc="KeyboardInterrupt"),
     "KeyboardInterrupt"),
], ids=["import-SystemExit", "import-KeyboardInterrupt", "kinds-SystemExit",
        "commands-KeyboardInterrupt"])
def test_base_exception_while_loading_is_the_plugins_error(tmp_path, source, error):
    env, path = install(tmp_path, source)
    assert_isolated(env, error=error, where=at(path, source, "raise"))

    out = run_cli("plugins", env={**env, "DIFFLAWS_STRICT_PLUGINS": "1"})
    assert out.returncode != 0 and "bad" not in out.stdout  # strict: it surfaces, as raised


def test_syntax_error_points_into_the_plugin(tmp_path):
    source = '''
import sys
def broken(:
    pass
'''
    env, path = install(tmp_path, source)
    assert_isolated(env, error="SyntaxError", where=at(path, source, "def broken"))


def test_forgotten_hookimpl_is_reported(tmp_path):
    source = '''
def difflaws_register_kinds(register):
    register("schedule", "never", object)
'''
    env, path = install(tmp_path, source)
    assert_isolated(env, where=at(path, source, "def difflaws_register_kinds"),
                    error="registers nothing: no function decorated with @difflaws.hookimpl "
                          "(found undecorated difflaws_register_kinds at ")


def test_forgotten_hookimpl_next_to_a_working_hook_is_a_warning(tmp_path):
    source = command() + '''
def difflaws_register_kinds(register):
    pass
'''
    env, path = install(tmp_path, source)
    bad = records(env)["bad"]
    assert bad["error"] is None and bad["commands"] == ["boom"]
    (warning,) = bad["warnings"]
    assert "undecorated difflaws_register_kinds" in warning
    assert at(path, source, "def difflaws_register_kinds") in warning


def test_command_that_raises_in_main_exits_1_with_one_line(tmp_path):
    source = command(main="return 1 / 0")
    env, path = install(tmp_path, source)
    assert records(env)["bad"]["error"] is None  # it loaded fine: the failure is the run's

    out = run_cli("boom", env=env)
    assert out.returncode == 1 and out.stdout == ""
    (line,) = out.stderr.splitlines()
    for part in ("plugin 'bad'", "bad = bad_plugin", "ZeroDivisionError: division by zero",
                 at(path, source, "1 / 0"), "DIFFLAWS_STRICT_PLUGINS=1"):
        assert part in line, line
    assert run_cli("hello", env=env).returncode == 0

    out = run_cli("boom", env={**env, "DIFFLAWS_STRICT_PLUGINS": "1"})
    assert out.returncode == 1 and "Traceback" in out.stderr and "1 / 0" in out.stderr


def test_user_error_in_a_plugin_command_still_exits_2(tmp_path):
    source = command(main='from difflaws.errors import UserError; raise UserError("bad input")')
    env, _ = install(tmp_path, source)
    out = run_cli("boom", env=env)
    assert out.returncode == 2 and out.stderr.strip() == "difflaws boom: bad input"


def test_percent_in_a_plugin_help_does_not_break_help(tmp_path):
    env, _ = install(tmp_path, command(help="100% safe"))
    out = run_cli("--help", env=env)
    assert out.returncode == 0 and "100% safe" in out.stdout and "hello" in out.stdout
