"""Templates of an ``optimizer`` kind: a torch optimizer over the parameterization's groups."""

SUMMARY = "SGD with heavy-ball momentum; per-group learning rates from the parameterization"

USAGE = '''
```toml
[optimizer]
kind = "${kind}"
lr = 0.003
momentum = 0.9
```
'''

PLUGIN = '''
"""The ``${kind}`` optimizer kind: its config and registration.

The ``difflaws`` entry point names this module and difflaws imports it whenever it
starts, so it stays light: torch and the optimizer load inside ``build``.
"""

from __future__ import annotations

import attrs
from attrs.validators import ge, lt

from difflaws import hookimpl
from difflaws.interfaces import OptimizerConfig, key


@attrs.frozen(kw_only=True)
class ${Kind}Config(OptimizerConfig):
    """${summary}.

    ``lr`` (the base learning rate) comes from ``OptimizerConfig``; the trainer sets
    each group's LR to lr × schedule(step) × the group's ``lr_mult`` every step.
    """

    momentum: float = key(0.9, doc="heavy-ball momentum (0: plain SGD)",
                          validator=[ge(0.0), lt(1.0)])

    def build(self, named_parameters, records, **context):
        from difflaws.optim.groups import param_groups
        from ${module}.optimizer import ${Kind}SGD

        groups = param_groups(named_parameters, records, weight_decay=0.0, eps=0.0)
        return ${Kind}SGD(groups, lr=self.lr, momentum=self.momentum)


@hookimpl
def difflaws_register_kinds(register):
    register("optimizer", "${kind}", ${Kind}Config)
'''

COMPONENT = "optimizer.py"

SOURCE = '''
"""The ``${kind}`` optimizer: SGD with heavy-ball momentum over parameter groups.

Per group and parameter: b ← momentum·b + ∇p, then p ← p − lr·b.

Its groups come from ``difflaws.optim.groups.param_groups``: one per distinct
record (group, ``lr_mult``, ``wd_mult``, ε), each carrying ``lr_mult`` for the
trainer's LR schedule and ``weight_decay`` and ``eps`` for update rules that use
them.  The state (momentum buffers) is saved and restored with checkpoints by
``torch.optim.Optimizer`` itself.
"""

from __future__ import annotations

import torch


class ${Kind}SGD(torch.optim.Optimizer):
    def __init__(self, params, lr: float, momentum: float = 0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                direction = p.grad
                if group["momentum"]:
                    state = self.state[p]
                    if "momentum_buffer" not in state:
                        state["momentum_buffer"] = torch.clone(p.grad)
                    else:
                        state["momentum_buffer"].mul_(group["momentum"]).add_(p.grad)
                    direction = state["momentum_buffer"]
                p.add_(direction, alpha=-group["lr"])
        return loss
'''

TEST_IMPORTS = '''
import pytest
import torch
'''

TEST_DIFFLAWS = '''
from difflaws.errors import UserError
from difflaws.model.records import ParamRecord
'''

TESTS = '''
def test_steps_follow_momentum_sgd_with_each_groups_lr(host):
    config = host.structure(CATEGORY, {"kind": KIND, "lr": 0.1, "momentum": 0.5})
    start = {"a": torch.tensor([1.0, -2.0], dtype=torch.float64),
             "b": torch.tensor([4.0], dtype=torch.float64)}
    params = {n: torch.nn.Parameter(t.clone()) for n, t in start.items()}
    records = [ParamRecord("a", "hidden", 0.02, lr_mult=1.0),
               ParamRecord("b", "norm", 0.0, lr_mult=0.25)]
    opt = config.build(named_parameters=iter(params.items()), records=records)
    assert sorted(g["lr_mult"] for g in opt.param_groups) == [0.25, 1.0]
    for group in opt.param_groups:  # what the trainer's LR schedule does every step
        group["lr"] = config.lr * group["lr_mult"]
    for _ in range(2):  # loss ½‖p‖², so the gradient is p itself
        opt.zero_grad()
        sum((p**2).sum() / 2 for p in params.values()).backward()
        opt.step()
    for name, mult in (("a", 1.0), ("b", 0.25)):
        eta, p0 = 0.1 * mult, start[name]
        p1 = p0 - eta * p0  # first step: the buffer is the gradient
        p2 = p1 - eta * (0.5 * p0 + p1)  # second: b = momentum·b + ∇p
        assert torch.allclose(params[name].detach(), p2, atol=1e-12)


def test_a_parameter_without_record_is_refused(host):
    config = host.structure(CATEGORY, {"kind": KIND})
    with pytest.raises(UserError):
        config.build(named_parameters=iter([("w", torch.nn.Parameter(torch.ones(2)))]), records=[])
'''
