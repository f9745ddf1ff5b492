"""One measured figure, as ``difflaws eval`` prints it and the ``evaluations`` table keeps it."""

from __future__ import annotations

import math

import attrs


@attrs.frozen
class Metric:
    """``name`` (e.g. ``gen_ppl``), its ``value``, the standard error of the value (NaN when
    there is none), ``n`` (what was averaged: tokens, samples, batches) and ``settings``
    (a JSON-able dict of everything that produced it: sampler, steps, judge, data...)."""

    name: str
    value: float
    stderr: float = math.nan
    n: int | None = None
    settings: dict = attrs.field(factory=dict)

    def as_json(self) -> dict:
        """The JSON form: non-finite numbers as null (JSON has no NaN)."""
        def num(v):
            return v if v is None or math.isfinite(v) else None

        return {"value": num(float(self.value)), "stderr": num(float(self.stderr)),
                "n": self.n, "settings": self.settings}
