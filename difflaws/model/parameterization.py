"""What a parameterization gives a backbone: per-parameter records and forward multipliers.

The rules themselves (standard, CompleteP, ...) are plugins in
``difflaws.builtins.parameterizations``; a built parameterization has

- ``multipliers(width, depth) -> Multipliers``, applied in the forward pass;
- ``record(name, role, shape, width, depth) -> ParamRecord``, one per tensor,
  with ``role`` one of ``difflaws.model.roles.ROLES``.
"""

from __future__ import annotations

import attrs


@attrs.frozen
class Multipliers:
    residual: float = 1.0  # h ← h + residual·F(h), both branches
    output: float = 1.0  # logits = output·head(h)
    embedding: float = 1.0  # h₀ = embedding·E[tokens]
