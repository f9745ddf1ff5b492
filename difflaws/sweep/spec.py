"""The sweep spec: a base run spec and the grid of overrides to run it with.

    base_spec = "../quickstart.toml"       # relative to this file
    name = "lr_by_size"

    [set]                                  # applied to every member
    "train.steps" = 400

    [axes]                                 # the grid: every combination is a member
    "backbone.shape" = ["L2-D64", "L4-D128"]
    "noise.shift" = [-2.0, 0.0, 2.0]

    [zip]                                  # keys that vary together: row i of each list
    "backbone.shape" = ["L1-D32", "L2-D64"]  # is one axis value (here: steps per size)
    "train.steps" = [4000, 1000]

    [lr_grid_by_batch]                     # the paper's rule: an LR grid per batch size
    8 = [0.1, 0.2, 0.3]
    16 = [0.2, 0.3, 0.5]

    [variants]                             # named bundles of overrides, one per member
    ar = {objective = {kind = "autoregressive"}}
    masked = {noise = {kind = "masked"}}

    [executor]                             # how members run (default: local, one at a time)
    kind = "local"
    jobs = 2

Keys in ``[set]`` and ``[axes]`` are dotted spec keys, written quoted or as
nested tables.  A value that is a table with a ``kind`` replaces that whole
component table, e.g. ``noise = [{kind = "masked"}, {kind = "hybrid", shift = 2.0}]``
or, in ``[set]``, ``data = {kind = "markov", n_symbols = 8}``.  With ``[lr_grid_by_batch]``, the batch sizes are its keys
(or ``axes."train.batch_size"``, each of which then needs a grid) and each
batch size runs only its own LRs.  ``[variants]`` crosses the grid with named
bundles of overrides that must change together, such as model families: an
autoregressive member sets ``[objective]`` where a diffusion member sets
``[noise]`` (so the base spec of such a sweep has no ``[noise]`` table).
"""

from __future__ import annotations

from typing import Any

import attrs

from difflaws.errors import FieldError
from difflaws.interfaces import ExecutorConfig, default_of, key

SCALARS = (bool, int, float, str)


def _flat(table: dict, prefix: str = "") -> dict:
    """``{"train": {"steps": [..]}}`` → ``{"train.steps": [..]}``; dotted keys pass through.

    A table with a ``kind`` key is a whole component (``data = {kind = "markov"}``)
    and stays one value: it replaces the base spec's table instead of merging into it.
    """
    out = {}
    for name, value in table.items():
        dotted = f"{prefix}.{name}" if prefix else str(name)
        if isinstance(value, dict) and "kind" not in value:
            out.update(_flat(value, dotted))
        else:
            out[dotted] = value
    return out


def _axes(self, attribute, value: dict) -> None:
    for name, values in value.items():
        if not isinstance(values, list) or not values:
            raise FieldError(f"axes.{name}", "give a non-empty list of values, e.g. [1, 2, 3]")
        if not all(isinstance(v, SCALARS + (list, dict)) for v in values):
            raise FieldError(f"axes.{name}", "values must be numbers, strings, booleans, lists "
                                            "or component tables")
        seen = []
        for v in values:
            if v in seen:
                raise FieldError(f"axes.{name}", f"lists {v!r} twice")
            seen.append(v)


def _variants(self, attribute, value: dict) -> None:
    for name, table in value.items():
        if not isinstance(table, dict) or not table:
            raise FieldError(f"variants.{name}", "give a table of overrides, e.g. "
                                                 "{noise = {kind = \"masked\"}}")


def _zip(self, attribute, value: dict) -> None:
    for name, values in value.items():
        if not isinstance(values, list) or not values:
            raise FieldError(f"zip.{name}", "give a non-empty list of values, e.g. [1, 2, 3]")
    lengths = {name: len(values) for name, values in value.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{k} has {n}" for k, n in lengths.items())
        raise FieldError("zip", f"every list must have the same length ({listed})")
    rows = zip_rows(value)
    for i, row in enumerate(rows):
        if row in rows[:i]:
            raise FieldError("zip", f"row {i + 1} repeats row {rows.index(row) + 1}: {row}")
    overlap = sorted(set(value) & set(self.axes))
    if overlap:
        raise FieldError("zip", f"{', '.join(overlap)} is also in [axes]; keep it in one")


def zip_rows(table: dict) -> list[dict]:
    """``{"a": [1, 2], "b": [3, 4]}`` → ``[{"a": 1, "b": 3}, {"a": 2, "b": 4}]``."""
    keys = list(table)
    return [dict(zip(keys, row)) for row in zip(*table.values())]


def _flat_variants(value: dict) -> dict:
    return {name: _flat(table) if isinstance(table, dict) else table
            for name, table in value.items()}


def _lr_grid(self, attribute, value: dict) -> None:
    for name, lrs in value.items():
        try:
            batch = int(name)
        except ValueError:
            batch = 0
        if batch <= 0 or str(batch) != str(name).strip():
            raise FieldError(f"lr_grid_by_batch.{name}", "keys are batch sizes (whole numbers "
                                                        "of sequences), e.g. 8 = [0.1, 0.2]")
        if (not isinstance(lrs, list) or not lrs
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0
                           for v in lrs)):
            raise FieldError(f"lr_grid_by_batch.{name}", "give a non-empty list of positive LRs")
        if len(set(lrs)) != len(lrs):
            raise FieldError(f"lr_grid_by_batch.{name}", "lists an LR twice")


@attrs.frozen(kw_only=True)
class SweepSpec:
    """A grid of runs over one base spec."""

    base_spec: str = key(doc="the run spec every member starts from, relative to this file")
    name: str = key("", doc='the sweep\'s name, its directory under out_dir; "": the file\'s stem')
    out_dir: str = key("sweeps", doc="the sweep's directory is OUT_DIR/NAME")
    set: dict[str, Any] = key(factory=dict, converter=_flat,
                              doc="dotted spec key → value, applied to every member")
    axes: dict[str, Any] = key(factory=dict, converter=_flat, validator=_axes,
                               doc="dotted spec key → list of values; every combination "
                                   "is a member")
    zip: dict[str, Any] = key(factory=dict, converter=_flat, validator=_zip,
                              doc="dotted spec key → list of values, all lists of one length; "
                                  "row i of every list is one value of a joint axis")
    variants: dict[str, Any] = key(factory=dict, converter=_flat_variants, validator=_variants,
                                   doc="name → table of overrides; every variant runs "
                                       "the whole grid")
    lr_grid_by_batch: dict[str, Any] = key(factory=dict, validator=_lr_grid,
                                           doc="batch size → list of LRs that batch size runs with")
    lr_key: str = key("optimizer.lr", doc="the spec key that [lr_grid_by_batch]'s LRs set")
    batch_key: str = key("train.batch_size",
                         doc="the spec key that [lr_grid_by_batch]'s batch sizes set")
    executor: ExecutorConfig = key(default_of("executor"), doc="how the members run")

    def __attrs_post_init__(self):
        if not self.lr_grid_by_batch:
            return
        for table in ("axes", "zip"):
            if self.lr_key in getattr(self, table):
                raise FieldError(table, f"{self.lr_key!r} is set by [lr_grid_by_batch]; "
                                        f"drop it from [{table}]")
        if self.batch_key in self.zip:
            raise FieldError("zip", f"{self.batch_key!r} picks [lr_grid_by_batch]'s grids; "
                                    "give its values in [axes] instead")
        batches = self.axes.get(self.batch_key)
        if batches is not None:
            missing = [b for b in batches if str(b) not in self.lr_grid_by_batch]
            if missing:
                raise FieldError("lr_grid_by_batch", f"no LR grid for batch size(s) "
                                                     f"{', '.join(map(str, missing))} of "
                                                     f"axes.{self.batch_key}")
        for name in (self.lr_key, self.batch_key):
            if name in self.set:
                raise FieldError(f"set.{name}", "is set by [lr_grid_by_batch]; drop it here")
