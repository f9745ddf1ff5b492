"""The diffusion objective: the NELBO of the run's noise process (docs/theory.md §2)."""

from __future__ import annotations

from difflaws.noise.bound import ProcessBound
from difflaws.noise.process import NoiseProcess


class DiffusionObjective:
    """Corrupt with the noise process, denoise bidirectionally, score the NELBO."""

    causal = False
    exact = False  # the NELBO is a Monte Carlo mean over λ and z
    figure_name = "NELBO"

    def __init__(self, process):
        self.process = process
        # the bound reads the NoiseProcess API; a duck-typed process reports its loss's NELBO
        self.estimator = ProcessBound(process) if isinstance(process, NoiseProcess) else None

    def batch(self, x, generator=None):
        return self.process.noise_batch(x, generator)

    def loss(self, logits, batch, x):
        return self.process.loss(logits, batch, x)

    def val_batch(self, x, generator=None, proposal=None):
        """The process NELBO's inputs (``difflaws.noise.bound``), or None without one."""
        return None if self.estimator is None else self.estimator.batch(x, generator, proposal)

    def bound(self, logits, batch, x):
        return self.estimator.terms(logits, batch, x)
