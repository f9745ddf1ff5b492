"""Templates of a ``sampler`` kind: generation from a trained denoiser, for any noise process."""

SUMMARY = "Ancestral sampling with the denoiser's logits divided by temperature"

USAGE = '''
In a spec (the sampler `difflaws sample` and evaluations use):

```toml
[sampler]
kind = "${kind}"
temperature = 1.0
```

or for one command: `difflaws sample RUN_DIR --sampler ${kind} --option temperature=0.8`.
'''

PLUGIN = '''
"""The ``${kind}`` sampler kind: its config and registration.

The ``difflaws`` entry point names this module and difflaws imports it whenever it
starts, so it stays light: torch and the sampler load inside ``build``.
"""

from __future__ import annotations

import attrs
from attrs.validators import gt

from difflaws import hookimpl
from difflaws.interfaces import SamplerConfig, key


@attrs.frozen(kw_only=True)
class ${Kind}Config(SamplerConfig):
    """${summary}.

    Temperature 1 is exact ancestral sampling; below 1 it trades diversity for
    the denoiser's most likely tokens.
    """

    temperature: float = key(1.0, doc="divide the denoiser's logits by this at every step "
                                      "(1: exact ancestral sampling)", validator=gt(0.0))

    def build(self, **context):
        from ${module}.sampler import ${Kind}Sampler

        return ${Kind}Sampler(self.temperature)


@hookimpl
def difflaws_register_kinds(register):
    register("sampler", "${kind}", ${Kind}Config)
'''

COMPONENT = "sampler.py"

SOURCE = '''
"""The ``${kind}`` sampler: ``difflaws.sampling.AncestralSampler`` on tempered logits.

``sample(denoiser, process, batch_size, seq_len, steps, prompt=None, generator=None,
device=None)`` returns tokens [batch_size, seq_len].  ``denoiser(tokens, log_snr)``
gives logits [B, T, V]; ``process`` is the run's noise process, whose ``prior``,
``reverse_step``, ``schedule`` and λ range drive the steps; ``prompt`` (None, or
token ids [batch_size, P]) is held fixed at the start of every sequence.
"""

from __future__ import annotations

from difflaws.sampling import AncestralSampler


class ${Kind}Sampler:
    def __init__(self, temperature: float = 1.0):
        self.temperature = temperature
        self.ancestral = AncestralSampler()

    def sample(self, denoiser, process, batch_size, seq_len, steps, prompt=None,
               generator=None, device=None):
        def tempered(tokens, log_snr):
            return denoiser(tokens, log_snr) / self.temperature

        return self.ancestral.sample(tempered, process, batch_size, seq_len, steps,
                                     prompt=prompt, generator=generator, device=device)
'''

TEST_IMPORTS = '''
import math

import pytest
import torch
'''

TESTS = '''
V, MASK = 8, 7


def masked_process(host):
    return host.structure("noise", {"kind": "masked"}).build(vocab_size=V, mask_id=MASK)


def constant_denoiser(logits_row):
    """A denoiser whose prediction ignores its input: every token is drawn from it."""
    def denoiser(tokens, log_snr):
        return torch.as_tensor(logits_row, dtype=torch.float32).expand(*tokens.shape, V)

    return denoiser


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_tokens_follow_the_tempered_prediction(host, temperature):
    sampler = host.structure(CATEGORY, {"kind": KIND, "temperature": temperature}).build()
    logits = [math.log(3.0), 0.0] + [-1e4] * (V - 2)  # p(0) : p(1) = 3 : 1, nothing else
    out = sampler.sample(constant_denoiser(logits), masked_process(host), batch_size=100,
                         seq_len=40, steps=4, generator=torch.Generator().manual_seed(0))
    assert out.shape == (100, 40) and bool(((out == 0) | (out == 1)).all())
    odds = 3.0 ** (1 / temperature)
    share = (out == 0).double().mean().item()
    assert abs(share - odds / (odds + 1)) < 0.03  # 4000 tokens: 4 standard errors


def test_the_prompt_is_kept(host):
    sampler = host.structure(CATEGORY, {"kind": KIND}).build()
    logits = [0.0, 0.0, 0.0, 40.0] + [0.0] * (V - 4)
    out = sampler.sample(constant_denoiser(logits), masked_process(host), batch_size=3,
                         seq_len=10, steps=8, prompt=torch.tensor([[1, 2]] * 3),
                         generator=torch.Generator().manual_seed(1))
    assert out[:, :2].tolist() == [[1, 2]] * 3
    assert bool((out[:, 2:] == 3).all())
'''
