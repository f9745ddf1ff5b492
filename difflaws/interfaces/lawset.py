"""Law sets: named, published scaling laws that ``difflaws plan --laws NAME`` reads.

A law-set kind subclasses :class:`LawSetConfig`; ``build(**context)`` (no
context is passed) returns a ``difflaws.plan.laws.LawSet``: per noise type,
the compute-optimal frontier N*(C), D*(C), L*(C) and the hyper-parameter laws
B*(D), η*(B), with the FLOP convention of C.  Give the set its ``recipe``
(the spec tables its laws were measured under, which ``plan --emit-spec``
starts from) and ``family_tables`` (each noise type's, i.e. model family's,
top-level tables such as ``[noise]`` or ``[objective]``; ``noise_tables`` is
the shorthand for a ``[noise]`` table alone), so a planned spec reproduces
the setting the laws hold for.  A set without a recipe borrows the default
law set's.
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from difflaws.interfaces.component import ComponentConfig


@attrs.frozen(kw_only=True)
class LawSetConfig(ComponentConfig):
    """Law set: published scaling laws for `difflaws plan`."""

    category: ClassVar[str] = "lawset"
