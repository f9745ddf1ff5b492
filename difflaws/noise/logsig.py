"""log σ(x) from elementwise primitives.

``torch.nn.functional.logsigmoid`` on CPU costs milliseconds per call even on a
handful of elements, and the noise code calls it on every per-token scalar; this
form is exact, handles ±inf, and is cheap.
"""

from __future__ import annotations

import torch


def log_sigmoid(x: torch.Tensor) -> torch.Tensor:
    return x.clamp(max=0) - torch.log1p(torch.exp(-x.abs()))
