"""Noise processes in log-SNR form (docs/theory.md §1–2, §8).

Public API::

    process = difflaws.noise.build("hybrid", vocab_size=V, mask_id=m, shift=2.0)
    process.marginal(x, log_snr)               # q_λ(·|x), probabilities [..., V]
    process.corrupt(x, log_snr, generator)     # z ~ q_λ(·|x)
    process.nelbo_integrand(logits, z, x, log_snr)  # w_λ·(KL + IS) per token

``log_snr`` broadcasts against x (per sequence: shape [B, 1]; per token: [B, T]).
A new process subclasses ``NoiseProcess`` and supplies ``mixing(λ)`` only.
"""

from __future__ import annotations

import importlib

from difflaws.interfaces import NoiseConfig

# Everything below imports torch; resolving it on first access keeps spec
# validation and `difflaws kinds` free of that cost.
_LAZY = {
    "LossOutput": "difflaws.noise.batch", "NoiseBatch": "difflaws.noise.batch",
    "MaskUniformProcess": "difflaws.noise.mixture", "NoiseProcess": "difflaws.noise.process",
    "CdfSchedule": "difflaws.noise.schedule", "Schedule": "difflaws.noise.schedule",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build(kind: str, vocab_size: int, mask_id: int, **config):
    """Build a registered noise kind (built-in or plugin) from keyword config values."""
    from difflaws.plugins import default_host
    from difflaws.spec.converter import flatten
    from difflaws.errors import Problem, SpecError

    host = default_host()
    try:
        cfg = host.structure("noise", {"kind": kind, **config})
    except SpecError:
        raise
    except Exception as exc:  # cattrs' grouped errors and lone validator errors alike
        problems = [Problem(f"noise.{p}" if p else "noise", m, "difflaws.noise.build")
                    for p, m in flatten(exc, None)]
        raise SpecError(problems, fix="see `difflaws kinds noise` for every kind and its keys") from None
    return cfg.build(vocab_size=vocab_size, mask_id=mask_id)


__all__ = ["build", "NoiseProcess", "MaskUniformProcess", "NoiseConfig", "NoiseBatch",
           "LossOutput", "Schedule", "CdfSchedule"]
