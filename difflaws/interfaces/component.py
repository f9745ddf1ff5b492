"""The base of every kind's config: a spec table that knows its category and builds.

A *kind* is a frozen attrs class that subclasses one category's interface
(``NoiseConfig``, ``BackboneConfig``, ...).  Its fields are the keys of the
spec table, and ``build(**context)`` returns the component.  A spec field
annotated with an interface accepts any registered kind of that category:
the table's ``kind`` key picks the class through the registry when the spec
is structured, so kinds that plugins add later work without touching the
field's owner.
"""

from __future__ import annotations

from typing import ClassVar

import attrs


@attrs.frozen(kw_only=True)
class ComponentConfig:
    """Base of every category interface; subclass the category's, not this one."""

    #: the registry category this interface stands for; set once per interface
    category: ClassVar[str] = ""

    def build(self, **context):
        """Return the component.  Each category documents the ``context`` it passes."""
        raise NotImplementedError(f"{type(self).__qualname__} does not implement build()")


def is_interface(tp) -> bool:
    """Whether ``tp`` is a category interface itself (not a concrete kind's config)."""
    return (isinstance(tp, type) and issubclass(tp, ComponentConfig)
            and tp.__dict__.get("category", "") != "")


def default_of(category: str, **values):
    """An attrs default: the category's default kind (declared by the plugin that registered
    it with ``default=True``), structured from ``values``."""

    def make():
        from difflaws.plugins import default_host

        return default_host().default_config(category, **values)

    return attrs.Factory(make)


def key(default=attrs.NOTHING, *, doc: str, validator=None, converter=None, factory=None):
    """A spec key: an attrs field carrying its one-line description, which ``difflaws kinds``
    shows beside the key's type, default and allowed values (read from ``validator``)."""
    if factory is not None:
        default = attrs.Factory(factory)
    return attrs.field(default=default, validator=validator, converter=converter,
                       metadata={"doc": doc})
