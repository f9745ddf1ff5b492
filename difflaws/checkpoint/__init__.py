"""Atomic, checksummed checkpoints: see :mod:`difflaws.checkpoint.io`."""

from difflaws.checkpoint.io import (CheckpointError, latest, load, save)

__all__ = ["CheckpointError", "latest", "load", "save"]
