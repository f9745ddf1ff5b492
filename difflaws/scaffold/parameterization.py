"""Templates of a ``parameterization`` kind: per-tensor init, LR, WD and ε rules by role."""

SUMMARY = "One init std for every weight matrix and one learning rate for every tensor"

USAGE = '''
```toml
[parameterization]
kind = "${kind}"
init_std = 0.02
```
'''

PLUGIN = '''
"""The ``${kind}`` parameterization kind: its config and registration.

The ``difflaws`` entry point names this module and difflaws imports it whenever it
starts, so it stays light: the rules load inside ``build``.
"""

from __future__ import annotations

import attrs
from attrs.validators import ge

from difflaws import hookimpl
from difflaws.interfaces import ParameterizationConfig, key


@attrs.frozen(kw_only=True)
class ${Kind}Config(ParameterizationConfig):
    """${summary}.

    No forward multipliers and no dependence on width or depth: the standard
    parameterization's rules, as a starting point for your own transfer rules.
    """

    init_std: float = key(0.02, doc="init std of the weight matrices (hidden, embedding, head)",
                          validator=ge(0.0))

    def build(self, **context):
        from ${module}.parameterization import ${Kind}Rules

        return ${Kind}Rules(self.init_std)

    def coordcheck_defaults(self) -> dict:
        return {"lr": 0.01}  # the base LR `difflaws coordcheck` compares shapes at


@hookimpl
def difflaws_register_kinds(register):
    register("parameterization", "${kind}", ${Kind}Config)
'''

COMPONENT = "parameterization.py"

SOURCE = '''
"""The ``${kind}`` rules: what each parameter role gets.

A backbone tags every tensor with a role (``difflaws.model.roles.ROLES``) and asks
``record`` for its init std (None: leave as built, 0: zeros), LR multiplier,
weight-decay multiplier and Adam ε, and ``multipliers`` for the forward multipliers
it applies.  Make them depend on ``width`` and ``depth`` to transfer
hyper-parameters across model shapes, as μP and CompleteP do.
"""

from __future__ import annotations

import attrs

from difflaws.model.parameterization import Multipliers
from difflaws.model.records import ParamRecord

MATRICES = ("hidden", "embedding", "head")


@attrs.frozen
class ${Kind}Rules:
    init_std: float = 0.02

    def multipliers(self, width: int, depth: int) -> Multipliers:
        return Multipliers(residual=1.0, output=1.0, embedding=1.0)

    def record(self, name: str, role: str, shape: tuple, width: int, depth: int) -> ParamRecord:
        if role in MATRICES:
            return ParamRecord(name, role, self.init_std, lr_mult=1.0, wd_mult=1.0)
        if role == "modulation":  # adaLN-Zero matrices: start at zero, train like hidden ones
            return ParamRecord(name, "hidden", 0.0, lr_mult=1.0, wd_mult=1.0)
        if role in ("norm", "bias", "sink"):  # norm gains are (1 + g): g = 0 is the identity
            return ParamRecord(name, role, 0.0, lr_mult=1.0, wd_mult=0.0)
        raise ValueError(f"${kind} has no rule for parameter role {role!r} ({name})")
'''

TEST_IMPORTS = '''
import pytest
import torch
'''

TEST_DIFFLAWS = '''
from difflaws.model.records import ParamRecord
from difflaws.model.roles import ROLES, role_of
'''

TESTS = '''
def test_every_role_gets_a_record(host):
    config = host.structure(CATEGORY, {"kind": KIND})
    rules = config.build()
    for role in ROLES:
        record = rules.record(f"w.{role}", role, (8, 8), width=64, depth=2)
        assert isinstance(record, ParamRecord) and record.name == f"w.{role}"
        assert record.lr_mult > 0 and record.wd_mult >= 0
        assert record.init_std is None or record.init_std >= 0
    assert rules.record("w", "hidden", (8, 8), 64, 2).init_std == config.init_std
    with pytest.raises(ValueError):
        rules.record("w", "no-such-role", (8, 8), 64, 2)


def test_a_transformer_initialises_as_the_records_say(host):
    rules = host.structure(CATEGORY, {"kind": KIND, "init_std": 0.05}).build()
    backbone = host.structure("backbone", {"kind": "transformer", "shape": "L1-D64"})
    model = backbone.build(vocab_size=32, seq_len=16, parameterization=rules)
    model.init_weights(torch.Generator().manual_seed(0))
    params = dict(model.named_parameters())
    assert {r.name for r in model.param_records()} == set(params)
    hidden = torch.cat([p.detach().flatten() for p in params.values() if role_of(p) == "hidden"])
    assert abs(hidden.std().item() / 0.05 - 1) < 0.05  # ~50k draws: 0.3 % standard error
'''
