"""The diffusion objective: the NELBO of the run's noise process (docs/theory.md §2)."""

from __future__ import annotations


class DiffusionObjective:
    """Corrupt with the noise process, denoise bidirectionally, score the NELBO."""

    causal = False
    exact = False  # the NELBO is a Monte Carlo mean over λ and z
    figure_name = "NELBO"

    def __init__(self, process):
        self.process = process

    def batch(self, x, generator=None):
        return self.process.noise_batch(x, generator)

    def loss(self, logits, batch, x):
        return self.process.loss(logits, batch, x)
