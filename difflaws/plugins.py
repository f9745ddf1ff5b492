"""The plugin host: load plugins in isolation, fill the registry, report.

Built-in kinds are plugins too (every module in ``difflaws.builtins``), so
the path third parties take is the path every test exercises.

Isolation: whatever a third-party plugin does wrong while it loads (an import
that raises, even ``SystemExit``; a hook that raises; an invalid kind or
command; no hook at all) becomes that plugin's ``error`` and rolls it back,
never touching the others.  ``DIFFLAWS_STRICT_PLUGINS=1`` lets the exception
surface instead, with its traceback.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import importlib.util
import os
import pkgutil
import re
import traceback

import attrs
import pluggy

from difflaws import hookspecs
from difflaws.registry import Registry, RegistrationError

ENTRY_POINT_GROUP = "difflaws"
LOAD_ENV = "DIFFLAWS_LOAD_PLUGINS"
STRICT_ENV = "DIFFLAWS_STRICT_PLUGINS"
HOOKS = tuple(name for name in vars(hookspecs) if name.startswith("difflaws_"))
COMMAND_PARTS = ("NAME", "HELP", "add_arguments", "main")
COMMAND_WORD = re.compile(r"[a-z][a-z0-9-]*\Z")


@attrs.define
class PluginRecord:
    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    builtin: bool = False
    entry_point: str | None = None  # "name = module", as the distribution declares it
    kinds: list[str] = attrs.Factory(list)
    commands: list[str] = attrs.Factory(list)
    error: str | None = None
    warnings: list[str] = attrs.Factory(list)

    @property
    def ok(self) -> bool:
        return self.error is None

    def fail(self, message: str) -> None:
        # a plugin can fail more than once (two refused commands): keep every reason
        self.error = message if self.error is None else f"{self.error}; {message}"


def builtin_modules() -> list[str]:
    import difflaws.builtins as pkg

    return [f"{pkg.__name__}.{m.name}" for m in pkgutil.iter_modules(pkg.__path__)]


def _own_roots(module: str) -> tuple[str, ...]:
    """The file, or package folders, of the top-level module a plugin lives in."""
    try:
        spec = importlib.util.find_spec(module.split(":")[0].split(".")[0])
    except (ImportError, ValueError):
        return ()
    if spec is None:
        return ()
    if spec.submodule_search_locations:
        return tuple(os.path.join(folder, "") for folder in spec.submodule_search_locations)
    return (spec.origin,) if spec.origin else ()


def describe(exc: BaseException, record: PluginRecord | None = None,
             fallback: traceback.FrameSummary | None = None) -> str:
    """``exc`` in one line, located where the plugin went wrong.

    That is the innermost frame in the plugin's own files, so the message points
    into the plugin rather than into difflaws or importlib; failing that,
    ``fallback`` (where the plugin registered the thing refused), then the
    innermost frame.
    """
    frames = traceback.extract_tb(exc.__traceback__)
    if isinstance(exc, SyntaxError) and exc.filename:  # compiled by importlib: no frame of its own
        frames.append(traceback.FrameSummary(exc.filename, exc.lineno, "<module>"))
    roots = _own_roots(record.module) if record else ()
    own = [f for f in frames if f.filename.startswith(roots)]
    frame = own[-1] if own else (fallback or (frames[-1] if frames else None))
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, RegistrationError):  # difflaws' own refusal: its message says it all
        text = str(exc)
    return f"{text} ({frame.filename}:{frame.lineno})" if frame else text


def _check_command(command) -> None:
    missing = [part for part in COMMAND_PARTS if not hasattr(command, part)]
    if missing:
        raise RegistrationError(f"command {getattr(command, 'NAME', command)!r} lacks "
                                f"{', '.join(missing)} (a command has {', '.join(COMMAND_PARTS)})")
    if not (isinstance(command.NAME, str) and COMMAND_WORD.match(command.NAME)):
        raise RegistrationError(f"command NAME {command.NAME!r} is not a command word "
                                "(a lower-case letter, then letters, digits or '-')")


def _defined_at(function) -> str:
    code = getattr(function, "__code__", None)
    return f" at {code.co_filename}:{code.co_firstlineno}" if code else ""


class PluginHost:
    """One plugin manager, its records and the registry they filled."""

    def __init__(self, entry_points: bool = True, builtins: bool = True) -> None:
        self.pm = pluggy.PluginManager("difflaws")
        self.pm.add_hookspecs(hookspecs)
        self.registry = Registry()
        self.records: dict[str, PluginRecord] = {}
        # (record, command, where the plugin registered it), for the CLI to add
        self._commands: list[tuple[PluginRecord, object, traceback.FrameSummary]] = []
        self.strict = os.environ.get(STRICT_ENV) == "1"
        if builtins:
            for module in builtin_modules():
                self.add(importlib.import_module(module), name=module, builtin=True)
        if entry_points:
            self._load_entry_points()
        from difflaws.spec.converter import make_converter

        self.converter = make_converter(self.registry)

    # -- loading -------------------------------------------------------
    def _load_entry_points(self) -> None:
        allow = os.environ.get(LOAD_ENV)
        allowed = None if allow is None else {a.strip() for a in allow.split(",") if a.strip()}
        for ep in md.entry_points(group=ENTRY_POINT_GROUP):
            dist = ep.dist.metadata["Name"] if ep.dist else None
            if allowed is not None and ep.name not in allowed and dist not in allowed:
                continue
            if ep.name in self.records:
                continue
            record = PluginRecord(ep.name, ep.value, dist, ep.dist.version if ep.dist else None,
                                  entry_point=f"{ep.name} = {ep.value}")
            self.records[ep.name] = record
            try:
                plugin = ep.load()
            except BaseException as exc:  # even SystemExit: a plugin must not end the CLI
                self._blame(record, exc)
                continue
            self.add(plugin, name=ep.name, record=record)

    def add(self, plugin, name: str, builtin: bool = False, record: PluginRecord | None = None):
        """Register a plugin object and let it register its kinds and commands."""
        record = record or PluginRecord(name, getattr(plugin, "__name__", repr(plugin)))
        record.builtin = builtin
        self.records[name] = record
        try:
            self.pm.register(plugin, name=name)
            self.pm.check_pending()
            for hook, register in (("difflaws_register_kinds", self._kind_register(record)),
                                   ("difflaws_register_commands", self._command_register(record))):
                # each plugin's hook on its own: one that raises takes down only itself
                for impl in getattr(self.pm.hook, hook).get_hookimpls():
                    if impl.plugin_name == name:
                        impl.function(register=register)
        except BaseException as exc:
            self._blame(record, exc)
        else:
            self._check_registered(plugin, record)
        if not record.ok:
            self._roll_back(plugin, record)
        return record

    def _kind_register(self, record: PluginRecord):
        def register(category: str, kind: str, config: type, *, default: bool = False) -> None:
            self.registry.add(category, kind, config, plugin=record.name, default=default)
            record.kinds.append(f"{category}:{kind}")

        return register

    def _command_register(self, record: PluginRecord):
        def register(command) -> None:
            _check_command(command)
            # the plugin's own call: a command the CLI refuses later is blamed there
            self._commands.append((record, command, traceback.extract_stack(limit=2)[0]))
            record.commands.append(command.NAME)

        return register

    def _check_registered(self, plugin, record: PluginRecord) -> None:
        # pluggy ignores a hook function without @hookimpl, so forgetting it fails silently
        forgotten = [f"found undecorated {hook}{_defined_at(getattr(plugin, hook))} "
                     "— add @hookimpl" for hook in HOOKS if callable(getattr(plugin, hook, None))
                     and self.pm.parse_hookimpl_opts(plugin, hook) is None]
        if record.kinds or record.commands:
            record.warnings.extend(forgotten)
            return
        reason = ("its hooks registered no kinds and no commands" if self.pm.get_hookcallers(plugin)
                  else "no function decorated with @difflaws.hookimpl")
        record.fail(f"registers nothing: {reason}"
                    + (f" ({'; '.join(forgotten)})" if forgotten else ""))

    def _blame(self, record: PluginRecord, exc: BaseException, what: str = "",
               where: traceback.FrameSummary | None = None) -> None:
        """Make ``exc`` the plugin's error; a built-in's bug, or strict mode, raises it instead."""
        if record.builtin or self.strict:
            raise exc
        record.fail(what + describe(exc, record, where))

    def _roll_back(self, plugin, record: PluginRecord) -> None:
        # a broken plugin contributes nothing, so nothing depends on half of it
        self.registry.remove_plugin(record.name)
        record.kinds.clear()
        record.commands.clear()
        self._commands = [entry for entry in self._commands if entry[0] is not record]
        if self.pm.is_registered(plugin):
            self.pm.unregister(plugin)

    def add_commands(self, add) -> None:
        """Offer every loaded plugin command to ``add(command, record)``, the CLI's.

        A command ``add`` refuses (its name is taken, its ``add_arguments``
        raises) is dropped and reported on its plugin's record, once: the
        plugin's other commands and kinds stay.
        """
        for entry in list(self._commands):
            record, command, where = entry
            try:
                add(command, record)
            except BaseException as exc:
                self._blame(record, exc, f"command {command.NAME!r}: ", where)
                self._commands.remove(entry)
                record.commands.remove(command.NAME)

    # -- queries -------------------------------------------------------
    def structure(self, category: str, table):
        """A ``{"kind": ..., ...}`` table (or a bare kind name) as that kind's config."""
        from difflaws.interfaces import interface_for

        return self.converter.structure(table, interface_for(category))

    def default_config(self, category: str, **values):
        """The category's default kind, configured with ``values``."""
        kind = self.registry.default(category)
        if kind is None:
            from difflaws.errors import UserError

            raise UserError(f"no {category} kind is the default (the plugin that provided "
                            f"it is not loaded); name one with kind = \"...\"")
        return self.structure(category, {"kind": kind, **values})

    def broken(self) -> list[PluginRecord]:
        return [r for r in self.records.values() if not r.ok]

    def distributions(self) -> dict[str, PluginRecord]:
        out = {}
        for record in self.records.values():
            for key in (record.name, record.distribution):
                if key:
                    out[key.lower().replace("_", "-")] = record
        return out


_default: PluginHost | None = None


def default_host() -> PluginHost:
    """The process-wide host, created on first use."""
    global _default
    if _default is None:
        _default = PluginHost()
    return _default


def set_default_host(host: PluginHost | None) -> None:
    global _default
    _default = host
