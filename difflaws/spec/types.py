"""Value types and bounds shared by spec fields.

The converter (``difflaws.spec.converter``) is strict by default: an ``int``
field takes a TOML integer within TOML's signed 64-bit range, a ``float``
field a *finite* number, a list-typed field a TOML array.  The few fields
that legitimately take ±inf say so with :data:`ExtendedFloat`.
"""

from __future__ import annotations

import typing

from attrs.validators import ge, le

#: a float that may also be ``inf`` or ``-inf`` (never nan), e.g. the hybrid noise's shift
ExtendedFloat = typing.NewType("ExtendedFloat", float)

#: TOML integers are signed 64-bit; tomllib reads bigger ones, the converter does not
INT_MIN, INT_MAX = -(2 ** 63), 2 ** 63 - 1

#: seeds go to torch.Generator.manual_seed (int64/uint64) and numpy's SeedSequence (≥ 0)
SEED_MAX = 2 ** 63 - 1
SEED = [ge(0), le(SEED_MAX)]

#: optimizer steps and other step counts: 2**40 steps is centuries of training
MAX_STEPS = 2 ** 40
STEPS = [le(MAX_STEPS)]

#: sequences per batch and tokens per sequence
MAX_BATCH = 2 ** 24
MAX_SEQ_LEN = 2 ** 24

__all__ = ["ExtendedFloat", "INT_MIN", "INT_MAX", "SEED", "SEED_MAX", "MAX_STEPS", "STEPS",
           "MAX_BATCH", "MAX_SEQ_LEN"]
