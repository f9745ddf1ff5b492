"""GIDD self-correction (docs/theory.md §1.5): ancestral sampling, then fixed-λ token replacement.

Each iteration draws one candidate per position from the truncated x̂ tempered by
τ (``correction_temperature``: ∝ x̂^(1/τ); with no truncation, softmax(logits/τ)),
scores it by its tempered probability when it differs from the current token,
and replaces the top ``positions_per_iteration`` positions of each row.

**Every row stops on its own**, as GIDD's loop does: a row stops when its
iteration changes nothing, or after ``patience`` iterations without raising the
share of its free positions equal to the argmax.  A stopped row is frozen while
the others go on; the loop ends when every row has stopped, or after
``max_iterations``.  With block-wise generation each block is corrected before
it joins the context.

**Determinism.**  Each row draws its candidates from a generator of its own, so
its tokens never depend on how long the other rows run.  ``correct`` takes one
generator per row, and then a row's result is a function of its own tokens,
prompt and generator, whatever else is in the batch; or one generator, which
seeds the rows' generators in row order, so the first k rows of a batch come
out as a batch of those k rows would from the same generator state.  Both hold
for a denoiser whose logits for a row depend on that row alone (a batched GPU
kernel may still differ in the last bits between batch sizes).
"""

from __future__ import annotations

import torch

from difflaws.errors import UserError
from difflaws.noise import categorical
from difflaws.sampling.ancestral import AncestralSampler
from difflaws.sampling.blocks import whole_sequence
from difflaws.sampling.prompt import Prompt

#: the rows' seeds are drawn from [0, SEED_RANGE): well inside the int64 that
#: ``torch.randint`` draws, and wide enough that two rows of a batch share one with
#: probability about B²/2⁶³
SEED_RANGE = 2**62


class SelfCorrectionSampler(AncestralSampler):
    def __init__(self, log_snr: float, correction_temperature: float = 0.1,
                 positions_per_iteration: int = 1, max_iterations: int = 128,
                 patience: int = 32, options=None) -> None:
        super().__init__(options)
        self.log_snr, self.correction_temperature = log_snr, correction_temperature
        self.positions_per_iteration = positions_per_iteration
        self.max_iterations, self.patience = max_iterations, patience

    def denoise(self, model, process, fixed, steps, generator=None, device=None):
        z = super().denoise(model, process, fixed, steps, generator, device)
        return self._correct(model, process, fixed, z, generator, device)

    def correct(self, denoiser, process, z, prompt=None, generator=None, device=None):
        """Only the correction phase, on the whole of ``z`` [B, T] (``prompt`` kept).

        ``generator``: one ``torch.Generator``, or a sequence of B of them, one per row.
        """
        fixed = Prompt(prompt, *z.shape, device)
        model = whole_sequence(denoiser, process, z.shape[0], self.options.skip_unchanged)
        with torch.no_grad():
            return self._correct(model, process, fixed, z, generator, device)

    def _correct(self, model, process, fixed, z, generator, device):
        shape = tuple(z.shape)
        lam = fixed.log_snr(self.log_snr, process, shape, device)
        rows = row_generators(generator, shape[0], z.device)
        stopping = Stopping(fixed.free, self.patience)
        for _ in range(self.max_iterations):
            if not stopping.active.any():
                break
            logits = model(z, lam)
            argmax = process.denoised_log_probs(logits.double()).argmax(-1)
            stopping.observe(z == argmax)
            cand, p_cand = self._candidates(logits, process, z, rows, stopping.active)
            score = torch.where(fixed.free & (cand != z), p_cand, 0)
            chosen = fixed.choose(score, self.positions_per_iteration)
            stopping.active &= chosen.any(1)
            z = torch.where(chosen, cand, z)
        return z

    def _candidates(self, logits, process, z, rows, active):
        """A candidate per position and its tempered probability; a stopped row's candidates
        are its own tokens, and it draws nothing, so its generator stays where it stopped."""
        tempered = torch.log_softmax(self.log_xhat(logits, process) / self.correction_temperature,
                                     -1)
        cand = z.clone()
        for i in active.nonzero().flatten().tolist():
            cand[i] = categorical.draw(tempered[i].exp(), rows[i])
        return cand, tempered.gather(-1, cand.unsqueeze(-1)).squeeze(-1).exp()


class Stopping:
    """Each row's stop rule: its best count of free positions at the argmax, and the
    iterations since that count last rose.  A row's free positions are fixed, so the
    count rises exactly when the share does, without a float comparison."""

    def __init__(self, free: torch.Tensor, patience: int) -> None:
        self.free, self.patience = free, patience
        rows = free.shape[0]
        self.best = torch.full((rows,), -1, dtype=torch.long, device=free.device)
        self.stale = torch.zeros(rows, dtype=torch.long, device=free.device)
        self.active = torch.ones(rows, dtype=torch.bool, device=free.device)

    def observe(self, at_argmax: torch.Tensor) -> None:
        """Count this iteration's agreement; rows out of patience stop before drawing."""
        count = (at_argmax & self.free).sum(1)
        rose = count > self.best
        self.best = torch.where(rose, count, self.best)
        self.stale = torch.where(rose, 0, self.stale + 1)
        self.active &= self.stale < self.patience


def row_generators(generator, batch_size: int, device) -> list:
    """One generator per row: ``generator`` itself if it is a sequence of them, else B
    generators seeded from it one draw at a time, in row order (so row i's seed never
    depends on the batch size)."""
    if isinstance(generator, (list, tuple)):
        if len(generator) != batch_size:
            raise UserError(f"self-correction got {len(generator)} generators for {batch_size} "
                            "rows; pass one generator per row, or a single generator")
        return list(generator)
    source = generator.device if generator is not None else torch.device("cpu")
    seeds = [int(torch.randint(SEED_RANGE, (), generator=generator, device=source))
             for _ in range(batch_size)]
    return [torch.Generator(device=device).manual_seed(seed) for seed in seeds]
