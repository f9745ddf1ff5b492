"""The scaling paper's published laws as ``lawset`` kinds: paper, paper-raw, paper-6P, paper-6P-raw.

Each carries the paper's recipe (transformer, CompleteP, LaProp, bf16) and
its five noise types as hybrid mixing shifts b (docs/theory.md §2.2, a = 1),
so ``plan --emit-spec`` writes the setting the laws were measured in.  The
tokenizer and data paths are placeholders, as in specs/uniform_10b.toml.
"""

from __future__ import annotations

import attrs

from difflaws import hookimpl
from difflaws.interfaces import LawSetConfig

RECIPE = {
    "seed": 0,
    "backbone": {"kind": "transformer", "shape": "L8-D512"},
    "parameterization": {"kind": "completep"},
    "optimizer": {"kind": "laprop", "betas": [0.9, 0.99]},
    "tokenizer": {"kind": "hf", "path": "tokenizer.json", "vocab_size": 131072},
    "data": {"kind": "tokens", "path": "data/nemotron-cc/train.bin"},
    "train": {"precision": "bf16"},
}
ALIASES = {"mask": "masked", "unif": "uniform", "low": "low-uniform", "high": "high-uniform",
           "hybrid": "balanced"}
SOURCE = ("von Rütte et al. 2025, Scaling Behavior of Discrete Diffusion Language Models, "
          "arXiv 2512.10858 (docs/theory.md §6.3-6.4)")
HYBRID_SHIFT = {"masked": -1000.0, "low-uniform": -2.0, "balanced": 0.0, "high-uniform": 2.0,
                "uniform": 1000.0}


def _paper(variant: str, summary: str) -> type:
    def build(self, **context):
        from difflaws.plan import paper_laws

        tables = {noise: {"noise": {"kind": "hybrid", "shift": b}}
                  for noise, b in HYBRID_SHIFT.items()}
        return paper_laws.variant(variant, recipe=RECIPE, family_tables=tables, aliases=ALIASES,
                                  default_noise="uniform", source=SOURCE)

    name = "PaperLawSet" + variant.title().replace("-", "")
    return attrs.frozen(kw_only=True)(type(name, (LawSetConfig,), {
        "__doc__": summary, "build": build, "__module__": __name__}))


PAPER = _paper("paper", "SCALE paper, C = M·D, quadratic-interpolated optima (von Rütte et al. 2025)")
PAPER_RAW = _paper("paper-raw", "SCALE paper, C = M·D, best run per budget")
PAPER_6P = _paper("paper-6P", "SCALE paper, C = 6P·D, quadratic-interpolated optima")
PAPER_6P_RAW = _paper("paper-6P-raw", "SCALE paper, C = 6P·D, best run per budget")


@hookimpl
def difflaws_register_kinds(register):
    register("lawset", "paper", PAPER, default=True)
    register("lawset", "paper-raw", PAPER_RAW)
    register("lawset", "paper-6P", PAPER_6P)
    register("lawset", "paper-6P-raw", PAPER_6P_RAW)
