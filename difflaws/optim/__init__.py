"""Optimizers built from parameterization records, and the WSD learning-rate schedule."""
