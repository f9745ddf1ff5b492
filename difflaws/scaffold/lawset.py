"""Templates of a ``lawset`` kind: named scaling laws that ``difflaws plan --laws`` reads."""

SUMMARY = "Example compute-optimal laws N*(C)·D*(C) = C, measured under masked diffusion"

USAGE = '''
```bash
difflaws plan --laws ${kind} --compute 1e20
difflaws plan --laws ${kind} --compute 1e20 --emit-spec planned.toml
```

Replace the coefficients in `${module}/${component}` with your own fits
(`difflaws fit --json` prints them).
'''

PLUGIN = '''
"""The ``${kind}`` law-set kind: its config and registration.

The ``difflaws`` entry point names this module and difflaws imports it whenever it
starts, so it stays light: the laws load inside ``build``.
"""

from __future__ import annotations

import attrs
from attrs.validators import gt, lt

from difflaws import hookimpl
from difflaws.interfaces import LawSetConfig, key


@attrs.frozen(kw_only=True)
class ${Kind}Config(LawSetConfig):
    """${summary}.

    C = M·D with M the FLOPs per token, so the model and data laws multiply to C:
    N*(C) = A·C^a and D*(C) = C^(1−a)/A.
    """

    exponent: float = key(0.566, doc="a in N*(C) = A·C^a (FLOPs per token); D*(C) = C/N*(C)",
                          validator=[gt(0.0), lt(1.0)])

    def build(self, **context):
        from ${module}.laws import law_set

        return law_set("${kind}", self.exponent)


@hookimpl
def difflaws_register_kinds(register):
    register("lawset", "${kind}", ${Kind}Config)
'''

COMPONENT = "laws.py"

SOURCE = '''
"""The ``${kind}`` law set: a compute-optimal frontier and hyper-parameter laws.

A ``difflaws.plan.laws.LawSet`` holds, per noise type (``"all"``: whatever noise),
the frontier N*(C), D*(C), L*(C) and the laws B*(D) (batch size in tokens) and
η*(B) (base learning rate), with the FLOP convention of C.  ``recipe`` holds the
spec tables the laws were measured under and ``noise_tables`` each noise type's
``[noise]`` table, so ``plan --emit-spec`` writes a spec in that setting.  The
numbers below are of the magnitude the SCALE paper measured for masked diffusion;
put your own fits here.
"""

from __future__ import annotations

from difflaws.plan.laws import GLOBAL, LawSet, NoiseLaws, PowerLaw

REFERENCE_C = 1e20  # FLOPs at which the model law is anchored
N_STAR_AT_REFERENCE = 3.7e9  # FLOPs per token (M) of the compute-optimal model at REFERENCE_C
FITTED_BUDGETS = (5e17, 2e20)  # the budgets the laws came from; plans say how far they extrapolate
RECIPE = {
    "backbone": {"kind": "transformer", "shape": "L8-D512"},
    "parameterization": {"kind": "completep"},
    "optimizer": {"kind": "laprop"},
}


def law_set(name: str, exponent: float) -> LawSet:
    A = N_STAR_AT_REFERENCE / REFERENCE_C**exponent
    laws = NoiseLaws(
        N_star=PowerLaw(A, exponent),
        D_star=PowerLaw(1.0 / A, 1.0 - exponent),  # N*·D* = C exactly
        L_star=PowerLaw(27.2, -0.0496),  # NELBO in nats per token
        B_star=PowerLaw(10**-2.4, 0.8225),  # batch size in tokens, of the training tokens D
        lr_star=PowerLaw(10**-2.06, 0.3412),  # base learning rate, of the batch size B
    )
    return LawSet(name, f"{name} example laws (masked diffusion, C = M·D)", "M",
                  noises={GLOBAL: laws}, n_star_key="flops_per_token_M",
                  compute_range=FITTED_BUDGETS, recipe=RECIPE,
                  noise_tables={GLOBAL: {"kind": "masked"}})
'''

TEST_IMPORTS = '''
import numpy as np
import pytest
'''

TEST_DIFFLAWS = '''
from difflaws.plan.laws import GLOBAL, LawSet
'''

TESTS = '''
BUDGETS = np.geomspace(1e17, 1e24, 8)


def test_model_and_data_laws_spend_the_budget(host):
    laws = host.structure(CATEGORY, {"kind": KIND}).build()
    assert isinstance(laws, LawSet) and laws.convention in ("M", "6P")
    frontier, _ = laws.for_noise(GLOBAL)
    for C in BUDGETS:
        assert frontier.N_star(C) * frontier.D_star(C) == pytest.approx(C, rel=1e-9)


def test_the_exponent_sets_how_model_size_grows(host):
    laws = host.structure(CATEGORY, {"kind": KIND, "exponent": 0.5}).build()
    frontier, _ = laws.for_noise(GLOBAL)
    assert frontier.N_star(4e20) / frontier.N_star(1e20) == pytest.approx(2.0, rel=1e-12)


def test_loss_falls_and_hyper_parameters_grow_with_scale(host):
    frontier, _ = host.structure(CATEGORY, {"kind": KIND}).build().for_noise(GLOBAL)
    losses = [frontier.L_star(C) for C in BUDGETS]
    assert all(a > b > 0 for a, b in zip(losses, losses[1:]))
    assert frontier.B_star(1e12) > frontier.B_star(1e10) > 0
    assert frontier.lr_star(1e6) > 0
'''
