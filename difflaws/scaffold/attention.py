"""Templates of an ``attention`` kind: a kernel function a backbone calls in every layer."""

SUMMARY = "PyTorch scaled_dot_product_attention with the scores divided by temperature"

USAGE = '''
```toml
[backbone]
kind = "transformer"
shape = "L8-D512"

[backbone.attention]
kind = "${kind}"
temperature = 1.0
```
'''

PLUGIN = '''
"""The ``${kind}`` attention kind: its config and registration.

The ``difflaws`` entry point names this module and difflaws imports it whenever it
starts, so it stays light: torch and the kernel load inside ``build``.
"""

from __future__ import annotations

import attrs
from attrs.validators import gt

from difflaws import hookimpl
from difflaws.interfaces import AttentionConfig, key


@attrs.frozen(kw_only=True)
class ${Kind}Config(AttentionConfig):
    """${summary}.

    Runs wherever PyTorch's SDPA does (CPU and GPU) and supports packed documents,
    clean prefixes, attention sinks and soft-capped logits.
    """

    temperature: float = key(1.0, doc="divide the attention scores by this (1: plain attention; "
                                      "below 1 sharpens)", validator=gt(0.0))

    def build(self, device=None, softcap: float = 0.0, **context):
        from ${module}.kernel import make_kernel

        return make_kernel(self.temperature)

    def supports_softcap(self) -> bool:
        return True  # SDPA soft-caps with explicit scores


@hookimpl
def difflaws_register_kinds(register):
    register("attention", "${kind}", ${Kind}Config)
'''

COMPONENT = "kernel.py"

SOURCE = '''
"""The ``${kind}`` kernel: ``difflaws.model.kernels.sdpa`` with tempered scores.

A kernel is ``kernel(q, k, v, mask, scale=, softcap=, sink_k=None, sink_v=None) -> out``
with q, k, v and out [B, H, T, head_dim] and ``mask`` a
``difflaws.model.masks.AttentionMask`` (``mask.dense(device)``: a boolean
[B, 1, T, T] of who may attend to whom, or None for full attention).  No kernel
is causal.
"""

from __future__ import annotations

from difflaws.model.kernels.sdpa import sdpa_attention


def make_kernel(temperature: float = 1.0):
    def kernel(q, k, v, mask, *, scale: float, softcap: float = 0.0, sink_k=None, sink_v=None):
        return sdpa_attention(q, k, v, mask, scale=scale / temperature, softcap=softcap,
                              sink_k=sink_k, sink_v=sink_v)

    return kernel
'''

TEST_IMPORTS = '''
import pytest
import torch
'''

TEST_DIFFLAWS = '''
from difflaws.model.masks import AttentionMask
'''

TESTS = '''
B, H, T, D = 2, 3, 6, 8


def reference(q, k, v, allowed, scale):
    scores = (q @ k.transpose(-1, -2)) * scale
    if allowed is not None:
        scores = scores.masked_fill(~allowed, float("-inf"))
    return torch.softmax(scores, -1) @ v


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_kernel_matches_softmax_attention_within_documents(host, temperature):
    config = host.structure(CATEGORY, {"kind": KIND, "temperature": temperature})
    kernel = config.build(device=torch.device("cpu"), softcap=0.0)
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(B, H, T, D, generator=g, dtype=torch.float64) for _ in range(3))
    doc_ids = torch.tensor([[0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 0, 0]])
    for mask in (AttentionMask(T), AttentionMask(T, doc_ids)):
        out = kernel(q, k, v, mask, scale=D**-0.5, softcap=0.0)
        expected = reference(q, k, v, mask.dense(q.device), D**-0.5 / temperature)
        assert torch.allclose(out, expected, atol=1e-10)


def test_a_transformer_runs_with_the_kernel(host):
    backbone = host.structure("backbone", {"kind": "transformer", "shape": "L1-D64",
                                           "attention": {"kind": KIND}})
    model = backbone.build(vocab_size=32, seq_len=8)
    logits = model(torch.zeros(2, 8, dtype=torch.long), torch.zeros(2, 8))
    assert logits.shape == (2, 8, 32) and torch.isfinite(logits).all()
'''
