"""Templates of a ``backbone`` kind: a module offering ``difflaws.interfaces.Backbone``."""

SUMMARY = ("Token embedding, residual ReLU MLP blocks and a linear head: "
           "a tiny attention-free denoiser")

USAGE = '''
```toml
[backbone]
kind = "${kind}"
width = 64
depth = 2
```

`difflaws validate --json SPEC` shows the size figures the kind reports, and
`difflaws coordcheck` sweeps its width and depth through `resized()`.
'''

PLUGIN = '''
"""The ``${kind}`` backbone kind: its config and registration.

The ``difflaws`` entry point names this module and difflaws imports it whenever it
starts, so it stays light: torch and the module load inside ``build``. ``figures`` is
analytic, so sizing and planning never build a model.
"""

from __future__ import annotations

import attrs
from attrs.validators import gt

from difflaws import hookimpl
from difflaws.interfaces import BackboneConfig, key

MLP_RATIO = 4  # hidden units per width unit in each block


@attrs.frozen(kw_only=True)
class ${Kind}Config(BackboneConfig):
    """${summary}.

    Each position is denoised from its own token alone (no attention), so packed
    documents and clean prefixes need no mask.  Replace the blocks in
    ``${module}/${component}`` with your architecture and update ``figures``.
    """

    width: int = key(64, doc="model width d: the embedding and residual stream", validator=gt(0))
    depth: int = key(2, doc="number of residual MLP blocks", validator=gt(0))

    def figures(self, vocab_size, seq_len) -> dict:
        d, L = self.width, self.depth
        matrices = L * 2 * MLP_RATIO * d * d  # up and down projection of every block
        non_embedding = matrices + d  # plus the final norm's gain
        out = {"width": d, "depth": L, "non_embedding_params": non_embedding,
               "embedding_params": None, "total_params": None,
               "flops_per_token_M": 6 * matrices,  # forward + backward, no attention
               "flops_per_token_6P": 6 * non_embedding}
        if vocab_size is not None:
            out["embedding_params"] = 2 * vocab_size * d  # untied embedding and head
            out["total_params"] = non_embedding + out["embedding_params"]
        return out

    def resized(self, width: int, depth: int) -> "${Kind}Config":
        return attrs.evolve(self, width=width, depth=depth)

    def build(self, vocab_size, seq_len=None, parameterization=None, device=None, meta=False,
              **context):
        import torch

        from ${module}.model import ${Kind}Model

        if parameterization is None:
            from difflaws.plugins import default_host

            parameterization = default_host().default_config("parameterization").build()
        target = torch.device("meta") if meta else torch.device(device or "cpu")
        with target:
            model = ${Kind}Model(vocab_size, self.width, self.depth, parameterization,
                                 mlp_ratio=MLP_RATIO)
        if not meta:
            model.init_weights()
        return model


@hookimpl
def difflaws_register_kinds(register):
    register("backbone", "${kind}", ${Kind}Config)
'''

COMPONENT = "model.py"

SOURCE = '''
"""The ``${kind}`` denoiser: embedding → residual ReLU MLP blocks → RMSNorm → head.

It offers the ``difflaws.interfaces.Backbone`` protocol: ``forward``,
``param_records`` (one record per tensor from the parameterization, by the role
each tensor was tagged with), ``init_weights``, ``repeated_blocks`` (the unit of
FSDP sharding and activation checkpointing) and ``probes`` (what
``difflaws coordcheck`` measures).
"""

from __future__ import annotations

import torch
from torch import nn

from difflaws.model.norm import RMSNorm
from difflaws.model.records import init_from_records, records_of
from difflaws.model.roles import tag


class ${Kind}Block(nn.Module):
    """h ← h + residual · down(relu(up(h)))."""

    def __init__(self, width: int, hidden: int, residual: float):
        super().__init__()
        self.residual = residual
        self.mlp = nn.Sequential(nn.Linear(width, hidden, bias=False), nn.ReLU(),
                                 nn.Linear(hidden, width, bias=False))
        tag(self.mlp[0].weight, "hidden")
        tag(self.mlp[2].weight, "hidden")

    def forward(self, h):
        return h + self.residual * self.mlp(h)


class ${Kind}Model(nn.Module):
    def __init__(self, vocab_size: int, width: int, depth: int, parameterization,
                 mlp_ratio: int = 4):
        super().__init__()
        self.vocab_size, self.width, self.depth = vocab_size, width, depth
        self.parameterization = parameterization
        mult = parameterization.multipliers(width=width, depth=depth)
        self.embedding_mult, self.output_mult = mult.embedding, mult.output
        self.embed = nn.Embedding(vocab_size, width, _weight=torch.empty(vocab_size, width))
        if not self.embed.weight.is_meta:  # a meta build only sizes the model; meta normal_ is slow
            nn.init.normal_(self.embed.weight)
        tag(self.embed.weight, "embedding")
        self.blocks = nn.ModuleList(${Kind}Block(width, mlp_ratio * width, mult.residual)
                                    for _ in range(depth))
        self.final_norm = RMSNorm(width)
        self.head = nn.Linear(width, vocab_size, bias=False)
        tag(self.head.weight, "head")

    def forward(self, tokens, log_snr=None, doc_ids=None, prefix_len=None):
        """``tokens`` [B, T] → logits [B, T, V]; λ, documents and prefixes are not needed."""
        h = self.embed(tokens) * self.embedding_mult
        for block in self.blocks:
            h = block(h)
        return self.head(self.final_norm(h)) * self.output_mult

    def param_records(self) -> list:
        return records_of(self, self.parameterization, self.width, self.depth)

    def init_weights(self, generator=None) -> None:
        init_from_records(self, self.param_records(), generator)

    def repeated_blocks(self) -> list:
        return list(self.blocks)

    def probes(self) -> dict:
        return {"embedding": [self.embed], "mlp": [b.mlp for b in self.blocks],
                "residual": list(self.blocks), "logits": [self.head]}
'''

TEST_IMPORTS = '''
import pytest
import torch
'''

TEST_DIFFLAWS = '''
from difflaws.interfaces import Backbone
'''

TESTS = '''
V, T = 32, 16


def test_forward_gives_logits_over_the_vocabulary(host):
    model = host.structure(CATEGORY, {"kind": KIND}).build(vocab_size=V, seq_len=T)
    assert isinstance(model, Backbone)
    tokens = torch.randint(0, V, (2, T), generator=torch.Generator().manual_seed(0))
    logits = model(tokens, torch.zeros(2, T))
    assert logits.shape == (2, T, V) and torch.isfinite(logits).all()


@pytest.mark.parametrize("shape", [None, (32, 1), (48, 3)])
def test_figures_count_the_built_parameters(host, shape):
    config = host.structure(CATEGORY, {"kind": KIND})
    if shape is not None:
        config = config.resized(*shape)
    model = config.build(vocab_size=V, seq_len=T)
    figures = config.figures(V, T)
    params = dict(model.named_parameters())
    assert figures["total_params"] == sum(p.numel() for p in params.values())
    embedding = model.embed.weight.numel() + model.head.weight.numel()
    assert figures["non_embedding_params"] == figures["total_params"] - embedding
    assert {r.name for r in model.param_records()} == set(params)


def test_meta_build_allocates_nothing(host):
    model = host.structure(CATEGORY, {"kind": KIND}).build(vocab_size=V, meta=True)
    assert all(p.is_meta for p in model.parameters())


def test_init_is_reproducible_from_a_generator(host):
    model = host.structure(CATEGORY, {"kind": KIND}).build(vocab_size=V)
    model.init_weights(torch.Generator().manual_seed(3))
    first = [p.clone() for p in model.parameters()]
    model.init_weights(torch.Generator().manual_seed(3))
    assert all(torch.equal(a, b) for a, b in zip(first, model.parameters()))
'''
