"""The registry of component kinds, filled by plugins through one hook.

The core knows categories, never kinds: ``masked`` noise or ``completep``
parameterization exist only because a plugin registered them.
"""

from __future__ import annotations

import difflib

import attrs

from difflaws.interfaces import INTERFACES

#: category → one-line description, from its interface (``difflaws.interfaces``)
CATEGORIES: dict[str, str] = {
    name: (cls.__doc__ or "").strip().splitlines()[0].rstrip(".")
    for name, cls in INTERFACES.items()}


class RegistrationError(Exception):
    """A plugin tried to register something invalid."""


class UnknownKindError(LookupError):
    """A spec names a kind that no plugin registered."""

    def __init__(self, category: str, kind: str, available: list[str]):
        self.category, self.kind, self.available = category, kind, available
        hint = did_you_mean(kind, available)
        listing = ", ".join(available) if available else "none registered"
        super().__init__(f"unknown {category} kind {kind!r}{hint} (available: {listing})")


def did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


@attrs.frozen
class Kind:
    category: str
    name: str
    config: type
    plugin: str

    @property
    def summary(self) -> str:
        doc = (self.config.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""


class Registry:
    def __init__(self) -> None:
        self._kinds: dict[str, dict[str, Kind]] = {c: {} for c in CATEGORIES}
        self._by_config: dict[type, Kind] = {}
        self._defaults: dict[str, str] = {}

    def add(self, category: str, name: str, config: type, plugin: str,
            default: bool = False) -> Kind:
        if category not in CATEGORIES:
            raise RegistrationError(
                f"unknown category {category!r}{did_you_mean(category, CATEGORIES)}"
            )
        interface = INTERFACES[category]
        if not (isinstance(config, type) and issubclass(config, interface) and attrs.has(config)):
            raise RegistrationError(
                f"{category} kind {name!r}: its config must be an attrs class that subclasses "
                f"difflaws.interfaces.{interface.__name__}"
            )
        if not isinstance(name, str) or not name:
            raise RegistrationError(f"{category} kind {name!r}: the name must be a non-empty string")
        if default and category in self._defaults:
            owner = self._kinds[category][self._defaults[category]].plugin
            raise RegistrationError(f"{category} already has a default kind "
                                    f"({self._defaults[category]!r}, from {owner!r})")
        if name in self._kinds[category]:
            owner = self._kinds[category][name].plugin
            raise RegistrationError(f"{category} kind {name!r} is already registered by {owner!r}")
        if config in self._by_config:
            raise RegistrationError(
                f"{config.__qualname__} already backs {self._by_config[config].name!r}; "
                "give each kind its own config class"
            )
        kind = Kind(category, name, config, plugin)
        self._kinds[category][name] = kind
        self._by_config[config] = kind
        if default:
            self._defaults[category] = name
        return kind

    def remove_plugin(self, plugin: str) -> None:
        for table in self._kinds.values():
            for name in [n for n, k in table.items() if k.plugin == plugin]:
                del self._by_config[table.pop(name).config]
        self._defaults = {c: n for c, n in self._defaults.items() if n in self._kinds[c]}

    def default(self, category: str) -> str | None:
        """The kind a spec gets when it leaves this category's table out, if any."""
        return self._defaults.get(category)

    def get(self, category: str, name: str) -> Kind:
        try:
            return self._kinds[category][name]
        except KeyError:
            raise UnknownKindError(category, name, self.names(category)) from None

    def names(self, category: str) -> list[str]:
        return sorted(self._kinds[category])

    def kinds(self, category: str | None = None) -> list[Kind]:
        cats = [category] if category else list(CATEGORIES)
        return [self._kinds[c][n] for c in cats for n in sorted(self._kinds[c])]

    def kind_of(self, config: object) -> Kind:
        return self._by_config[type(config)]