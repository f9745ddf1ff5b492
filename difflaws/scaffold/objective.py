"""Templates of an ``objective`` kind: what the network is trained on and what is reported."""

SUMMARY = "Next-token prediction trained with label smoothing; reports the exact NLL"

USAGE = '''
```toml
[objective]
kind = "${kind}"
smoothing = 0.1
# no [noise] table: this objective trains no noise process
```
'''

PLUGIN = '''
"""The ``${kind}`` objective kind: its config and registration.

The ``difflaws`` entry point names this module and difflaws imports it whenever it
starts, so it stays light: torch and the objective load inside ``build``.
"""

from __future__ import annotations

import attrs
from attrs.validators import ge, lt

from difflaws import hookimpl
from difflaws.interfaces import LEFT_TO_RIGHT, ObjectiveConfig, key


@attrs.frozen(kw_only=True)
class ${Kind}Config(ObjectiveConfig):
    """${summary}.

    The optimised loss mixes the next-token cross-entropy with a uniform target of
    weight ``smoothing``; the figure the run reports (``val_nelbo``, ``eval``) stays
    the unsmoothed negative log-likelihood, so runs compare with any other objective.
    """

    smoothing: float = key(0.1, validator=[ge(0.0), lt(1.0)],
                           doc="weight of the uniform target in the trained loss")

    def build(self, noise=None, vocab_size=0, mask_id=0, **context):
        from ${module}.objective import ${Kind}Objective

        return ${Kind}Objective(self.smoothing, mask_id, context.get("eos_id", 0))

    # what the spec checks when it loads
    def needs_noise(self) -> bool:
        return False

    def causal(self) -> bool:
        return True

    def gives_log_snr(self) -> bool:
        return False

    def sampler_family(self) -> str:
        return LEFT_TO_RIGHT

    def default_sampler(self):
        from difflaws.plugins import default_host

        return default_host().structure("sampler", {"kind": "next-token"})


@hookimpl
def difflaws_register_kinds(register):
    register("objective", "${kind}", ${Kind}Config)
'''

COMPONENT = "objective.py"

SOURCE = '''
"""The ``${kind}`` objective: ``batch(x)`` gives the model its inputs, ``loss`` scores them.

``batch`` returns a ``difflaws.noise.batch.NoiseBatch``: the trainer hands its ``z``,
``log_snr`` and ``prefix_len`` to the backbone and its ``loss_mask`` says which
positions are scored.  ``loss`` returns a ``LossOutput``: ``loss`` is optimised,
``nelbo`` is the reported figure in nats per scored token, ``n_tokens`` weights
micro-batches.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from difflaws.noise.batch import LossOutput, NoiseBatch


class ${Kind}Objective:
    causal = True  # position t sees tokens 0..t and predicts token t+1
    exact = True  # one evaluation pass gives the figure: nothing random to average
    figure_name = "NLL"
    process = None  # no noise process: samplers get the objective itself

    def __init__(self, smoothing: float, mask_id: int, eos_id: int):
        self.smoothing, self.mask_id, self.eos_id = smoothing, mask_id, eos_id

    def batch(self, x: torch.Tensor, generator=None) -> NoiseBatch:
        scored = torch.ones_like(x, dtype=torch.bool)
        scored[:, -1] = False  # the last position has no next token in the window
        return NoiseBatch(z=x, log_snr=None, loss_mask=scored, prefix_len=None, proposal=None)

    def loss(self, logits: torch.Tensor, batch: NoiseBatch, x: torch.Tensor) -> LossOutput:
        flat = logits[:, :-1].reshape(-1, logits.shape[-1]).float()
        targets = x[:, 1:].reshape(-1)
        nll = F.cross_entropy(flat, targets)
        smoothed = F.cross_entropy(flat, targets, label_smoothing=self.smoothing)
        return LossOutput(loss=smoothed, nelbo=nll.detach(), n_tokens=targets.numel())
'''

TEST_IMPORTS = '''
import math

import pytest
import torch
'''

TEST_DIFFLAWS = '''
from difflaws.interfaces import LEFT_TO_RIGHT
from difflaws.noise.batch import NoiseBatch
'''

TESTS = '''
V = 6


def test_the_reported_figure_is_the_exact_nll(host):
    objective = host.structure(CATEGORY, {"kind": KIND, "smoothing": 0.2}).build(
        vocab_size=V, mask_id=V - 1)
    x = torch.tensor([[0, 1, 2, 3]])
    logits = torch.randn(1, 4, V, generator=torch.Generator().manual_seed(0))
    batch = objective.batch(x)
    assert isinstance(batch, NoiseBatch) and batch.loss_mask.tolist() == [[True] * 3 + [False]]
    out = objective.loss(logits, batch, x)
    by_hand = -sum(torch.log_softmax(logits[0, t], -1)[x[0, t + 1]].item() for t in range(3)) / 3
    assert math.isclose(out.nelbo.item(), by_hand, rel_tol=1e-6)
    assert out.n_tokens == 3 and out.loss.item() != out.nelbo.item()


def test_a_spec_with_it_needs_no_noise_and_decodes_token_by_token(host):
    from difflaws.spec.model import Spec

    objective = host.structure(CATEGORY, {"kind": KIND})
    backbone = host.structure("backbone", {"kind": "transformer", "shape": "L1-D32",
                                           "head_dim": 16})
    spec = Spec(objective=objective, backbone=backbone)
    assert spec.noise is None and spec.sampler.family() == LEFT_TO_RIGHT
'''
