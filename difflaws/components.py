"""Typed slots through which a config holds another component.

A spec field annotated with ``Slot["schedule"]`` accepts any registered
``schedule`` kind: the table's ``kind`` key picks the config class through
the registry at structuring time, so kinds added by plugins later work
without touching the field's owner.
"""

from __future__ import annotations

import attrs

_SLOTS: dict[str, type] = {}


class Component:
    """Marker base for slot types; never instantiated."""

    category: str = ""


class _SlotFactory:
    def __getitem__(self, category: str) -> type:
        if category not in _SLOTS:
            _SLOTS[category] = type(f"Slot[{category}]", (Component,), {"category": category})
        return _SLOTS[category]


Slot = _SlotFactory()


def is_slot(tp) -> bool:
    return isinstance(tp, type) and issubclass(tp, Component) and tp is not Component


def default_kind(category: str, kind: str, **values):
    """An attrs default that structures ``{"kind": kind, **values}`` when needed."""

    def make():
        from difflaws.plugins import default_host

        return default_host().converter.structure({"kind": kind, **values}, Slot[category])

    return attrs.Factory(make)
