"""Expand a sweep into members: one set of ``--set`` overrides each, with a stable name.

A member's name is a readable slug of the values it varies plus a short
hash of all its overrides (``shape=L2-D64_lr=0.3_3f9c1a``), so the same
member gets the same directory however the grid is reordered or extended,
and members that differ only in characters the slug drops still differ.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from pathlib import Path

import attrs
import tomli_w

from difflaws.errors import Problem, SpecError
from difflaws.sweep.spec import zip_rows

MAX_SLUG = 80
UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]+")


@attrs.frozen
class Member:
    name: str
    values: dict  # the axis values this member takes, by dotted key
    overrides: tuple  # "key=value" strings for `difflaws run --set`, fixed ones included


BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def literal(value) -> str:
    """A value as the one-line TOML literal ``--set`` reads back (tables inline)."""
    if isinstance(value, dict):
        items = (f"{k if BARE_KEY.match(str(k)) else literal(str(k))} = {literal(v)}"
                 for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    return tomli_w.dumps({"v": value}).strip()[len("v = "):]


def _short_keys(keys) -> dict[str, str]:
    """The last component of each dotted key, or the full key where that is ambiguous."""
    last = [k.rsplit(".", 1)[-1] for k in keys]
    return {k: (s if last.count(s) == 1 else k) for k, s in zip(keys, last)}


def _value_text(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ",".join(_value_text(v) for v in value)
    if isinstance(value, dict):
        return ",".join(_value_text(v) for v in value.values())
    return str(value)


def member_name(values: dict, overrides) -> str:
    short = _short_keys(list(values))
    slug = "_".join(f"{short[k]}={_value_text(v)}" for k, v in values.items())
    slug = UNSAFE.sub("-", slug).strip("-")[:MAX_SLUG] or "base"
    digest = hashlib.sha1(json.dumps(sorted(overrides)).encode()).hexdigest()[:6]
    return f"{slug}_{digest}"


def grid(sweep) -> list[dict]:
    """Every combination of axis values and ``[zip]`` rows, with each batch size's LR grid."""
    combos = _axes_grid(sweep)
    return [{**row, **values} for row in zip_rows(sweep.zip) or [{}] for values in combos]


def _axes_grid(sweep) -> list[dict]:
    axes = dict(sweep.axes)
    if not sweep.lr_grid_by_batch:
        keys = list(axes)
        return [dict(zip(keys, combo)) for combo in itertools.product(*axes.values())]
    batches = axes.pop(sweep.batch_key, None) or [int(b) for b in sweep.lr_grid_by_batch]
    keys = list(axes)
    out = []
    for combo in itertools.product(*axes.values()):
        for batch in batches:
            for lr in sweep.lr_grid_by_batch[str(batch)]:
                out.append({**dict(zip(keys, combo)), sweep.batch_key: int(batch),
                            sweep.lr_key: lr})
    return out


VARIANT = "variant"  # the member value that names its [variants] bundle


def expand(sweep) -> list[Member]:
    fixed = [f"{k}={literal(v)}" for k, v in sweep.set.items()]
    bundles = sweep.variants or {None: {}}
    members = []
    for name, bundle in bundles.items():
        chosen = [f"{k}={literal(v)}" for k, v in bundle.items()]
        for values in grid(sweep):
            overrides = tuple(fixed + chosen + [f"{k}={literal(v)}" for k, v in values.items()])
            if name is not None:
                values = {VARIANT: name, **values}
            members.append(Member(member_name(values, overrides), values, overrides))
    return members


def validate(members, base_path: Path, host) -> list:
    """Load every member through the normal spec loader; report every problem at once.

    A problem shared by several members is reported once, with how many.
    """
    from difflaws.spec import load_spec

    specs, seen = [], {}
    for m in members:
        try:
            specs.append(load_spec(base_path, m.overrides, host=host))
        except SpecError as exc:
            for p in exc.problems:
                seen.setdefault((p.path, p.message, p.source), []).append(m.name)
    if seen:
        problems = []
        for (path, message, source), names in seen.items():
            who = (f"member {names[0]}" if len(names) == 1
                   else f"{len(names)} members, e.g. {names[0]}")
            problems.append(Problem(path, message, f"{who} ({source})"))
        raise SpecError(problems, fix="fix the sweep's [set]/[axes] values or the base spec "
                                      "(a key set on a table the base spec lacks needs its "
                                      "'kind' too)")
    return specs
