"""Atomic, checksummed checkpoints: see :mod:`difflaws.checkpoint.io` (and
:mod:`difflaws.checkpoint.safe_dcp` for reading sharded ones safely)."""

from difflaws.checkpoint.io import (CheckpointError, DamagedCheckpoint, latest, load, save)

__all__ = ["CheckpointError", "DamagedCheckpoint", "latest", "load", "save"]
