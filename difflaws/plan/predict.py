"""From a compute budget and a law set to a concrete training run.

    N* = N*(C)          FLOPs per token (the law set's convention)
    D* = D*(C)          training tokens
    shape               integer (depth, width, heads) whose figures match N*
    B  = B*(D*)         tokens per batch, rounded to a batch of sequences
    η  = η*(B)          base learning rate at the batch actually used
    steps = D*/B        optimizer steps
    L* = L*(C)          NELBO without cooldown; ÷ annealing factor with one
"""

from __future__ import annotations

import math

import attrs

from difflaws.plan.laws import LawSet, check_budget
from difflaws.plan.shapes import ShapeChoice, search_shape
from difflaws.errors import UserError

EXTRAPOLATION_WARNING = 3.0  # warn beyond this factor outside the fitted budgets


def canonical_noise(noise: str, laws: LawSet) -> str:
    """The law set's own name for ``noise``: case and ``_``/``-`` folded, its aliases applied."""
    name = str(noise).strip().lower().replace("_", "-")
    return laws.aliases.get(name, name)


def round_batch(sequences: float) -> int:
    """The nearest batch of the form 2^k or 3·2^k sequences (1024, 1536, 2048, 3072...)."""
    if sequences <= 1:
        return 1
    options = {2 ** k for k in range(31)} | {3 * 2 ** k for k in range(30)}
    return min(options, key=lambda b: abs(math.log(b / sequences)))


@attrs.frozen
class Prediction:
    compute: float
    noise: str
    law_set: str
    convention: str
    law_sources: dict  # law name -> the noise group it came from
    n_star: float  # what the law asks for, in the law set's n_star_key unit
    n_star_key: str
    d_star: float  # tokens the law asks for
    shape: ShapeChoice
    seq_len: int
    batch_size_tokens_law: float  # B*(D*) before rounding
    batch_size: int  # sequences
    steps: int
    lr: float | None
    predicted_nelbo: float | None
    annealing_factor: float
    warnings: tuple = ()
    law_source: str = ""  # the law set's citation
    n_star_note: str = ""  # how the law set's source counts N*
    law_notes: tuple = ()  # the law set's other caveats

    @property
    def batch_size_tokens(self) -> int:
        return self.batch_size * self.seq_len

    @property
    def tokens(self) -> int:
        return self.steps * self.batch_size_tokens

    @property
    def run_compute(self) -> float:
        key = "flops_per_token_M" if self.convention == "M" else "flops_per_token_6P"
        return self.shape.figures[key] * self.tokens

    @property
    def predicted_nelbo_annealed(self) -> float | None:
        return None if self.predicted_nelbo is None else self.predicted_nelbo / self.annealing_factor


def predict(laws: LawSet, compute, noise: str, measure, seq_len: int = 2048,
            tolerance: float = 0.02) -> Prediction:
    compute = check_budget(compute)
    noise = canonical_noise(noise, laws)
    chosen, sources = laws.for_noise(noise)
    if chosen.N_star is None or chosen.D_star is None:
        raise UserError(f"law set {laws.name!r} has no N*/D* frontier for {noise!r}")
    warnings = []
    factor = laws.extrapolation(compute)
    if factor > EXTRAPOLATION_WARNING:
        low, high = laws.compute_range
        side = "above" if compute > high else "below"
        warnings.append(f"{compute:.3g} FLOPs is {factor:.3g}× {side} the budgets the laws were "
                        f"fitted on ({low:.3g}-{high:.3g}); the prediction is an extrapolation")
    n_star, d_star = chosen.N_star(compute), chosen.D_star(compute)
    shape = search_shape(n_star, measure, laws.n_star_key, tolerance)
    if abs(shape.relative_error) > tolerance:
        warnings.append(f"no shape within {tolerance:.0%} of N* = {n_star:.3g}; "
                        f"closest is {shape.name} ({shape.relative_error:+.1%})")
    if chosen.B_star is not None:
        b_law = chosen.B_star(d_star)
        batch = round_batch(b_law / seq_len)
    else:
        b_law, batch = float("nan"), round_batch(d_star / seq_len / 10_000)
        warnings.append("the law set has no B*(D) law; the batch gives 10k steps")
    steps = max(1, round(d_star / (batch * seq_len)))
    lr = chosen.lr_star(batch * seq_len) if chosen.lr_star is not None else None
    if lr is None:
        warnings.append("the law set has no η*(B) law; set optimizer.lr yourself")
    nelbo = chosen.L_star(compute) if chosen.L_star is not None else None
    return Prediction(compute, noise, laws.name, laws.convention, sources, n_star,
                      laws.n_star_key, d_star, shape,
                      seq_len, b_law, batch, steps, lr, nelbo, laws.annealing_factor,
                      tuple(warnings), laws.source, laws.n_star_note, tuple(laws.notes))
