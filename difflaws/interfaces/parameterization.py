"""Parameterizations: per-tensor init, learning-rate, weight-decay and ε rules.

A parameterization kind subclasses :class:`ParameterizationConfig`;
``build(**context)`` (no context is passed) returns an object with

* ``multipliers(width, depth) -> difflaws.model.parameterization.Multipliers``:
  the forward multipliers (residual branch, output logits, embedding) a
  backbone applies;
* ``record(name, role, shape, width, depth) -> difflaws.model.records.ParamRecord``:
  one record per tensor.  ``role`` is one of ``difflaws.model.roles.ROLES``
  (``hidden``, ``modulation``, ``embedding``, ``head``, ``norm``, ``bias``,
  ``sink``); ``shape`` is the tensor's shape.  The record's ``init_std``
  (``None``: leave as built, ``0``: zeros), ``lr_mult``, ``wd_mult`` and
  ``eps`` drive initialisation and the optimizer's groups.  Raise
  ``ValueError`` for a role you have no rule for.

Backbones call both with their own width and depth, so one parameterization
serves every backbone that tags its tensors with roles.
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from difflaws.interfaces.component import ComponentConfig


@attrs.frozen(kw_only=True)
class ParameterizationConfig(ComponentConfig):
    """Parameterization: per-parameter init, learning-rate, weight-decay and multiplier rules."""

    category: ClassVar[str] = "parameterization"

    def coordcheck_defaults(self) -> dict:
        """Settings ``difflaws coordcheck`` uses unless told otherwise (e.g. ``{"lr": 0.5}``):
        the base LR at which this parameterization's shapes are comparable."""
        return {"lr": 0.01}
