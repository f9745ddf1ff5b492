"""The WSD learning-rate schedule: linear warmup, constant, optional 1 − √ cooldown.

``multiplier(k)`` is for optimizer step k (0-based).  Warmup ramps to 1 over
``warmup`` steps, reaching it at step ``warmup − 1``.  A cooldown over the last
K = round(fraction · total) steps scales by 1 − √(j/K) with j = 1..K the step
within it, so the last step's LR is exactly 0 (docs/theory.md §3).  The schedule
sets each group's LR to ``base_lr · multiplier · lr_mult`` and never changes
``lr_mult``, so a parameterization's ratios survive every step.
"""

from __future__ import annotations

import math


def wsd_multiplier(step: int, total: int, warmup: int, cooldown_fraction: float) -> float:
    warm = min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0
    cooldown = int(round(cooldown_fraction * total))
    start = total - cooldown
    if cooldown > 0 and step >= start:
        j = step - start + 1
        return warm * (1.0 - math.sqrt(j / cooldown))
    return warm


def apply_lr(optimizer, base_lr: float, multiplier: float) -> float:
    for group in optimizer.param_groups:
        group["lr"] = base_lr * multiplier * group.get("lr_mult", 1.0)
    return base_lr * multiplier
