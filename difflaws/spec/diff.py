"""What differs between two specs, key path by key path.

``difflaws runs --diff`` shows it for two runs of a workspace, and ``difflaws run``
shows it when it refuses a run directory that holds another spec.  Both compare
resolved specs (every default filled in), so only the keys that really differ
appear: a key left at its default in one spec and set to it in the other does not.
"""

from __future__ import annotations

import json

import attrs

#: the value of a key one spec does not have
ABSENT = type("Absent", (), {"__repr__": lambda self: "ABSENT"})()


@attrs.frozen
class Change:
    """One key path whose value differs; ``old`` or ``new`` is ``ABSENT`` where that spec
    lacks the key (a key, or a whole table, added or removed)."""

    key: str
    old: object = ABSENT
    new: object = ABSENT


def flatten(data: dict, prefix: str = "") -> dict:
    """Dotted key path → value, walking into tables.  An empty table is a value of its own
    (so adding one shows); None, which TOML cannot hold, counts as absent."""
    out = {}
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out.update(flatten(value, dotted))
        elif value is not None:
            out[dotted] = value
    return out


def render(value) -> str:
    """A value as one line of TOML-like text: strings quoted, booleans lower case."""
    return json.dumps(value, ensure_ascii=False, default=str)


def spec_diff(old: dict, new: dict) -> list[Change]:
    """The key paths whose values differ between ``old`` and ``new``, sorted.

    Values are compared as they are written, so 1 and 1.0 (an integer and a float in
    TOML) differ, and a value never shows as changed to the same text."""
    a, b = flatten(old), flatten(new)
    changes = []
    for key in sorted(a.keys() | b.keys()):
        was, now = a.get(key, ABSENT), b.get(key, ABSENT)
        if was is ABSENT or now is ABSENT or render(was) != render(now):
            changes.append(Change(key, was, now))
    return changes


def format_diff(changes: list[Change]) -> list[str]:
    """``- key: old`` then ``+ key: new`` per change; a key only one side has gets only
    that side's line."""
    lines = []
    for change in changes:
        if change.old is not ABSENT:
            lines.append(f"- {change.key}: {render(change.old)}")
        if change.new is not ABSENT:
            lines.append(f"+ {change.key}: {render(change.new)}")
    return lines


def diff_records(changes: list[Change]) -> list[dict]:
    """The changes as JSON objects; a side that lacks the key has no ``old``/``new``."""
    return [{"key": c.key, **({"old": c.old} if c.old is not ABSENT else {}),
             **({"new": c.new} if c.new is not ABSENT else {})} for c in changes]
