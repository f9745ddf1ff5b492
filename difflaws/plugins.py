"""The plugin host: load plugins in isolation, fill the registry, report.

Built-in kinds are plugins too (every module in ``difflaws.builtins``), so
the path third parties take is the path every test exercises.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import os
import pkgutil
import traceback

import attrs
import pluggy

from difflaws import hookspecs
from difflaws.registry import Registry, RegistrationError

ENTRY_POINT_GROUP = "difflaws"
LOAD_ENV = "DIFFLAWS_LOAD_PLUGINS"
STRICT_ENV = "DIFFLAWS_STRICT_PLUGINS"


@attrs.define
class PluginRecord:
    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    builtin: bool = False
    kinds: list[str] = attrs.Factory(list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def builtin_modules() -> list[str]:
    import difflaws.builtins as pkg

    return [f"{pkg.__name__}.{m.name}" for m in pkgutil.iter_modules(pkg.__path__)]


def _describe(exc: BaseException) -> str:
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" ({last[0].filename}:{last[0].lineno})" if last else ""
    return f"{type(exc).__name__}: {exc}{where}"


class PluginHost:
    """One plugin manager, its records and the registry they filled."""

    def __init__(self, entry_points: bool = True, builtins: bool = True) -> None:
        self.pm = pluggy.PluginManager("difflaws")
        self.pm.add_hookspecs(hookspecs)
        self.registry = Registry()
        self.records: dict[str, PluginRecord] = {}
        self._strict = os.environ.get(STRICT_ENV) == "1"
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
            record = PluginRecord(ep.name, ep.value, dist, ep.dist.version if ep.dist else None)
            try:
                plugin = ep.load()
            except Exception as exc:  # a broken plugin must not break unrelated commands
                if self._strict:
                    raise
                record.error = _describe(exc)
                self.records[ep.name] = record
                continue
            self.add(plugin, name=ep.name, record=record)

    def add(self, plugin, name: str, builtin: bool = False, record: PluginRecord | None = None):
        """Register a plugin object and let it register its kinds."""
        record = record or PluginRecord(name, getattr(plugin, "__name__", repr(plugin)))
        record.builtin = builtin
        self.records[name] = record
        try:
            self.pm.register(plugin, name=name)
            self.pm.check_pending()
        except Exception as exc:
            if builtin or self._strict:
                raise
            record.error = _describe(exc)
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            return record
        for impl in self.pm.hook.difflaws_register_kinds.get_hookimpls():
            if impl.plugin_name == name:
                self._register_kinds(impl, record, builtin)
        return record

    def _register_kinds(self, impl, record: PluginRecord, builtin: bool) -> None:
        def register(category: str, kind: str, config: type) -> None:
            self.registry.add(category, kind, config, plugin=record.name)
            record.kinds.append(f"{category}:{kind}")

        try:
            impl.function(register=register)
        except Exception as exc:
            if builtin or self._strict:
                raise
            self.registry.remove_plugin(record.name)
            record.kinds.clear()
            record.error = _describe(exc) if not isinstance(exc, RegistrationError) else str(exc)

    # -- queries -------------------------------------------------------
    def commands(self) -> list:
        found = []
        self.pm.hook.difflaws_register_commands(register=found.append)
        return found

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
