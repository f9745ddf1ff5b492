"""What each parameter is, so a parameterization can decide its init and learning rate.

The backbone tags every parameter with a role when it creates it; the
parameterization maps (role, shape) to a ``ParamRecord``.  Roles follow the
paper's parameter groups (docs/theory.md §3):

- ``hidden``: matrices inside blocks (q, k, v, o, MLP up/down, λ-embedding d→d);
- ``modulation``: adaLN-Zero matrices, hidden-like but zero-initialised;
- ``embedding``: token embedding and other inputs of fixed fan-in;
- ``head``: the LM head (unembedding);
- ``norm``, ``bias``, ``sink``: gains, biases, attention sink slots.
"""

from __future__ import annotations

ROLES = ("hidden", "modulation", "embedding", "head", "norm", "bias", "sink")
_ATTR = "_difflaws_role"


def tag(param, role: str):
    if role not in ROLES:
        raise ValueError(f"unknown parameter role {role!r}")
    setattr(param, _ATTR, role)
    return param


def role_of(param) -> str:
    try:
        return getattr(param, _ATTR)
    except AttributeError:
        raise ValueError("parameter has no role; create it through difflaws.model.roles.tag") from None
