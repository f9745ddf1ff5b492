"""Self-correction stops each row on its own: a row's result does not depend on its batch."""

from __future__ import annotations

import pytest
import torch

import difflaws.noise as noise
from difflaws.errors import UserError
from difflaws.sampling import SelfCorrectionSampler
from noise_helpers import MASK, V

REAL = [t for t in range(V) if t != MASK]
NEXT = torch.tensor([REAL[(REAL.index(t) + 1) % len(REAL)] if t != MASK else MASK
                     for t in range(V)])
TARGET = torch.tensor([REAL[i % len(REAL)] for i in range(8)])
FIXABLE, FRUSTRATED = 0, 1  # the prompt token that selects a row's landscape


class Landscape:
    """A row-wise toy denoiser; its prompt token picks what the row's argmax is.

    FIXABLE rows: the argmax is TARGET, whatever the tokens.  FRUSTRATED rows: the
    argmax is the next real token after the current one, so no token ever agrees with
    it and every replacement moves the goal.  ``sharpness`` sets how far the argmax
    stands above the rest; ``calls`` keeps every input, to count replacements."""

    reads_log_snr = False

    def __init__(self, sharpness: float) -> None:
        self.sharpness, self.calls = sharpness, []

    def __call__(self, z, lam):
        self.calls.append(z.clone())
        goal = torch.where(z[:, :1] == FRUSTRATED, NEXT[z], TARGET[: z.shape[1]])
        return self.sharpness * torch.nn.functional.one_hot(goal, V).double()


def rows(prompts_and_wrong: list[tuple[int, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of [prompt, TARGET[1:]] with the first ``wrong`` free positions set off target."""
    z = TARGET.repeat(len(prompts_and_wrong), 1)
    for r, (prompt, wrong) in enumerate(prompts_and_wrong):
        z[r, 0] = prompt
        z[r, 1: 1 + wrong] = NEXT[z[r, 1: 1 + wrong]]
    return z, z[:, :1].clone()


PROC = noise.build("uniform", V, MASK)


def test_a_row_alone_equals_the_same_row_in_a_batch_of_four():
    # a soft landscape: candidates are random, so rows run for different numbers of
    # iterations and draw different amounts of randomness; the old batch-wide stop rule
    # and shared stream would tie each row to the others
    z, prompt = rows([(FRUSTRATED, 0), (FIXABLE, 6), (FIXABLE, 2), (FRUSTRATED, 0)])
    sc = SelfCorrectionSampler(4.6, correction_temperature=1.0, max_iterations=40, patience=4)
    seeds = [101, 202, 303, 404]
    batch_den = Landscape(1.5)
    batch = sc.correct(batch_den, PROC, z, prompt=prompt,
                       generator=[torch.Generator().manual_seed(s) for s in seeds])
    lengths = set()
    for i, seed in enumerate(seeds):
        den = Landscape(1.5)
        alone = sc.correct(den, PROC, z[i: i + 1], prompt=prompt[i: i + 1],
                           generator=[torch.Generator().manual_seed(seed)])
        assert torch.equal(alone[0], batch[i]), f"row {i}"
        lengths.add(len(den.calls))
    assert len(lengths) > 1  # the rows really stopped at different iterations
    assert len(batch_den.calls) == max(lengths)  # the batch runs until its last row stops
    assert not torch.equal(batch, z)


def test_one_generator_seeds_the_rows_in_order():
    z, prompt = rows([(FIXABLE, 5), (FRUSTRATED, 0), (FIXABLE, 3), (FRUSTRATED, 0)])
    sc = SelfCorrectionSampler(4.6, correction_temperature=1.0, max_iterations=40, patience=4)
    four = sc.correct(Landscape(1.5), PROC, z, prompt=prompt,
                      generator=torch.Generator().manual_seed(7))
    two = sc.correct(Landscape(1.5), PROC, z[:2], prompt=prompt[:2],
                     generator=torch.Generator().manual_seed(7))
    assert torch.equal(four[:2], two)


def changes_per_call(den: Landscape, out: torch.Tensor) -> torch.Tensor:
    """[rows, calls]: tokens each row changed after each denoiser call."""
    states = den.calls + [out]
    return torch.stack([(b != a).sum(1) for a, b in zip(states[:-1], states[1:])], 1)


# rows: frustrated, fixable with 5 and 2 wrong tokens, already right; patience P = 3.
# With the argmax far above the rest (sharpness 50, τ = 0.1: every other token has
# probability < e^-490), each candidate is the argmax, so by hand, with k positions per
# iteration and at most M iterations:
# * frustrated: nothing ever agrees, so the count 0 rises once (iteration 1) and the row
#   stops at iteration P + 1 after k replacements in each of iterations 1..P;
# * fixable with d wrong: the count rises every iteration; k are fixed per iteration
#   (fewer at the end) until none is left, and the next iteration changes nothing;
# * right: its first iteration changes nothing.
# The batch calls the denoiser until its last row stops: max(P + 1, ⌈5/k⌉ + 1), at most M.
# A batch-wide stop rule instead keeps the frustrated row going while the fixable rows
# improve: [8, 5, 2, 0] replacements for k = 1.
@pytest.mark.parametrize("k, max_iterations, expected, calls", [
    (1, 128, [[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 0], [1, 1, 0, 0, 0, 0], [0] * 6], 6),
    (2, 128, [[2, 2, 2, 0], [2, 2, 1, 0], [2, 0, 0, 0], [0] * 4], 4),
    (1, 2, [[1, 1], [1, 1], [1, 1], [0, 0]], 2),
])
def test_each_row_follows_its_own_stop_rule(k, max_iterations, expected, calls):
    z, prompt = rows([(FRUSTRATED, 0), (FIXABLE, 5), (FIXABLE, 2), (FIXABLE, 0)])
    den = Landscape(50.0)
    sc = SelfCorrectionSampler(4.6, correction_temperature=0.1, positions_per_iteration=k,
                               max_iterations=max_iterations, patience=3)
    out = sc.correct(den, PROC, z, prompt=prompt, generator=torch.Generator().manual_seed(0))
    assert len(den.calls) == calls
    assert changes_per_call(den, out).tolist() == expected
    wrong = torch.tensor([5, 2, 0]) - changes_per_call(den, out)[1:].sum(1)
    assert torch.equal((out[1:, 1:] != TARGET[1:]).sum(1), wrong)  # every change fixed a token
    assert torch.equal(out[:, :1], prompt)


def test_a_wrong_number_of_row_generators_is_refused():
    z, prompt = rows([(FIXABLE, 1), (FIXABLE, 1)])
    with pytest.raises(UserError, match="3 generators for 2 rows"):
        SelfCorrectionSampler(4.6).correct(Landscape(50.0), PROC, z, prompt=prompt,
                                           generator=[torch.Generator()] * 3)
