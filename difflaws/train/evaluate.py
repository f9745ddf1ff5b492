"""Held-out figures: fixed sequences, fixed noise draws, so evaluations are comparable.

Two figures come from the same validation windows:

* ``nelbo``: the objective's reported bound (``objective.val_batch`` and
  ``objective.bound``): for diffusion the process NELBO of
  ``difflaws.noise.bound`` (one λ per sequence, no prompt rows, prior and
  reconstruction terms included: a true bound); for next-token prediction the
  exact NLL.  An objective without these methods falls back to its loss's
  ``nelbo``, one estimate per batch.
* ``objective``: the trained objective's own figure (``objective.batch`` and
  ``loss``), per-token-λ and prompt-prefix rows as trained.

Each window w is scored by one or more draws; its contributions c (nats summed
over its tokens) are averaged into c̄_w, and the figure is the ratio
Σ_w c̄_w / Σ_w T_w.  The standard error treats the windows as independent draws
from the data (the delta method for a ratio), so it covers both the noise and
the choice of windows; more draws of the same windows cannot push it below the
spread between windows.  That floor is estimated from two independent draws of
every window (their residuals' cross-product has the noise's share cancelled), so
a standard-error target the split clearly cannot reach stops the loop after two
passes instead of at its cap.  The effective sample size (ESS) of the n draws,
(Σc)²/Σc², is n when every draw contributes alike and falls towards 1 when a few
draws carry the estimate: relative s.e. ≈ √((n/ESS − 1)/(n − 1)).  Like the s.e.,
it only sees the draws made: a tail too rare to be drawn (docs/theory.md §2.8)
shows in neither, which is what the fitted proposal and a larger draw count are for.
"""

from __future__ import annotations

import math

import torch

from difflaws.metrics.stats import weighted_mean_stderr
from difflaws.noise.bound import PILOT_BINS, SequenceBound, ValBatch, fit_proposal
from difflaws.train.setup import field

VAL_SEED = 0x5EED  # the same noise draws for every evaluation of every run
OBJECTIVE_SEED = VAL_SEED + 1  # the trained objective's draws: its own stream
# the floor's estimate from two heavy-tailed draws is noisy: stop early only when even its
# 2-s.e. lower end is above the target, so a reachable target is rarely given up on
FLOOR_SIGMAS = 2.0
PILOT_DRAWS = 8 * PILOT_BINS  # draws from the schedule before a proposal is fitted to them
# what a metrics record and the summary keep of an evaluation
# the metrics record's (and summary's) val keys, and the ``evaluate`` results they hold
VAL_FIELDS = {"val_nelbo": "nelbo", "val_nelbo_stderr": "stderr",
              "val_objective": "objective_nelbo", "val_objective_stderr": "objective_stderr",
              "val_ess": "ess", "val_tokens": "n_tokens", "val_draws": "n_draws",
              "val_stderr_target": "stderr_target"}
VAL_KEYS = tuple(VAL_FIELDS)


def final_evaluation(t) -> dict:
    """The end-of-run (and ``eval``'s default) stopping rule from the ``[train]`` table."""
    return {"stderr_target": t.eval_stderr_target, "max_batches": t.eval_max_batches}


def val_record(out: dict) -> dict:
    """``evaluate``'s result as the metrics record's (and summary's) val keys."""
    return {key: out[field] for key, field in VAL_FIELDS.items()}


@torch.no_grad()
def evaluate(model, objective, seqs, batches: int, batch_size: int, device, autocast,
             samples: int = 1, seed: int = VAL_SEED, stderr_target: float = 0.0,
             max_batches: int = 0, proposal: str = "schedule", objective_batches: int = 0,
             agree=None) -> dict:
    """The reported bound and the objective's own figure (nats/token) on ``seqs``.

    At least ``batches`` batches of ``batch_size`` windows, each scored by ``samples``
    noise draws (one for an exact objective); then, while the bound's standard error
    is above ``stderr_target`` (0: no target), more batches, past the end of the
    split again with fresh draws, up to ``max_batches`` in all, and no further than
    two passes when the spread between windows alone is above the target.  The
    objective's own figure is scored on the first ``objective_batches`` batches (0:
    ``batches``; two at least): it is a diagnostic with no target, and its third forward
    pass would otherwise be a third of the extension's cost.  ``proposal``: "schedule"
    draws λ from the run's schedule; "fitted" fits a variance-reduced one to the first
    ``PILOT_DRAWS`` draws (``difflaws.noise.bound.fit_proposal``) and uses it after.
    ``agree`` turns this process's wish to stop into the decision of all processes
    (any that would go on keeps all going), so sharded models make the same calls.
    """
    samples = 1 if objective.exact else samples
    batch_size = min(batch_size, seqs.n_windows)  # a batch never holds a window twice
    per_pass = max(1, seqs.n_windows // batch_size)
    cap = max(batches, max_batches)
    if objective.exact:  # a second pass would score the same windows to the same figure
        cap = min(cap, max(batches, per_pass))
    was_training = model.training
    model.eval()
    gen = torch.Generator(device=device).manual_seed(seed)
    objective_gen = torch.Generator(device=device).manual_seed(OBJECTIVE_SEED)
    windows = Windows()
    means, weights = [], []  # the objective's own figure, one estimate per (batch, draw)
    chosen, pilot = None, []  # the fitted proposal, and the draws it is fitted to
    done = 0
    while True:
        first = (done % per_pass) * batch_size
        x, doc_ids = seqs.batch_at(first, batch_size)
        keys = list(range(first, first + batch_size))  # the same windows on every pass
        x, doc_ids = x.to(device), doc_ids.to(device)
        for _ in range(samples):
            vb, out = score_bound(model, objective, x, doc_ids, gen, autocast, chosen)
            windows.add(keys, out)
            if proposal == "fitted" and chosen is None and out.integrand is not None:
                pilot.append((vb.log_snr, out.integrand))
                if sum(len(lam) for lam, _ in pilot) >= PILOT_DRAWS:
                    chosen = fit_proposal(vb.proposal, torch.cat([lam for lam, _ in pilot]),
                                          torch.cat([g for _, g in pilot]))
            if out.objective is not None:  # the bound's noisy pass is the objective's batch
                means.append(float(out.objective.sum() / out.n_tokens.sum()))
                weights.append(float(out.n_tokens.sum()))
            elif not objective.exact and done < max(objective_batches or batches, 2):  # 2: an s.e.
                batch = objective.batch(x, objective_gen)
                with autocast():
                    logits = model(batch.z, batch.log_snr, doc_ids=doc_ids,
                                   prefix_len=batch.prefix_len)
                own = objective.loss(logits, batch, x)
                means.append(float(field(own, "nelbo")))
                weights.append(float(field(own, "n_tokens")))
        done += 1
        stop = done >= cap or (done >= batches and target_reached(windows, stderr_target))
        if agree(stop) if agree is not None else stop:
            break
    model.train(was_training)
    mean, stderr = windows.estimate()
    own_mean, own_stderr = weighted_mean_stderr(means, weights) if means else (mean, stderr)
    return {"nelbo": mean, "stderr": stderr, "n_tokens": windows.tokens(),
            "n_sequences": len(windows.sums), "n_draws": windows.draws,
            "n_estimates": done * samples,
            "ess": windows.ess(), "batches": done, "proposal": proposal if chosen else "schedule",
            "stderr_target": stderr_target, "objective_nelbo": own_mean,
            "objective_stderr": own_stderr, **windows.parts()}


def target_reached(windows, stderr_target: float) -> bool:
    """Whether the loop may stop once past its minimum: no target, the target met, or a
    floor the split cannot get below.  Only a target needs the estimate, which visits every
    window so far: computed on each batch, it made long evaluations quadratic."""
    if not stderr_target > 0:
        return True
    _, stderr = windows.estimate()
    return stderr <= stderr_target or windows.floor(FLOOR_SIGMAS) > stderr_target


def score_bound(model, objective, x, doc_ids, generator, autocast, proposal=None):
    """One draw of the objective's reported bound for the windows ``x``: (ValBatch,
    SequenceBound).  Without ``val_batch``/``bound`` (or when ``val_batch`` returns None)
    the loss's ``nelbo`` stands in, as one contribution for the whole batch."""
    extra = {} if proposal is None else {"proposal": proposal}
    vb = objective.val_batch(x, generator, **extra) if hasattr(objective, "bound") else None
    if vb is None:
        batch = objective.batch(x, generator)
        with autocast():
            logits = model(batch.z, batch.log_snr, doc_ids=doc_ids, prefix_len=batch.prefix_len)
        out = objective.loss(logits, batch, x)
        n = float(field(out, "n_tokens"))
        total = torch.tensor([float(field(out, "nelbo")) * n], dtype=torch.float64)
        return ValBatch(passes=(batch,)), SequenceBound(total=total, n_tokens=torch.tensor([n]))
    logits = []
    for batch in vb.passes:
        with autocast():
            logits.append(model(batch.z, batch.log_snr, doc_ids=doc_ids,
                                prefix_len=batch.prefix_len))
    return vb, objective.bound(logits, vb, x)


class Windows:
    """Contributions per validation window, averaged over that window's draws."""

    def __init__(self) -> None:
        self.sums: dict = {}  # key -> [Σc, draws, tokens]
        self.first_two: dict = {}  # key -> the window's first two contributions
        self.draws, self.total, self.square = 0, 0.0, 0.0
        self.prior = self.reconstruction = 0.0

    def add(self, keys, out: SequenceBound) -> None:
        totals = out.total.double().cpu().tolist()
        tokens = out.n_tokens.double().cpu().tolist()
        if len(totals) == 1 and len(keys) > 1:  # one contribution for the whole batch
            keys = [tuple(keys)]
        for key, c, n in zip(keys, totals, tokens):
            entry = self.sums.setdefault(key, [0.0, 0, n])
            entry[0] += c
            entry[1] += 1
            pair = self.first_two.setdefault(key, [])
            if len(pair) < 2:
                pair.append(c)
        self.draws += len(totals)
        self.total += sum(totals)
        self.square += sum(c * c for c in totals)
        if out.prior is not None:
            self.prior += float(out.prior.double().sum())
            self.reconstruction += float(out.reconstruction.double().sum())

    def tokens(self) -> int:
        return int(sum(n for _, _, n in self.sums.values()))

    def estimate(self) -> tuple[float, float]:
        """The ratio Σc̄/ΣT and its delta-method standard error over windows."""
        means = [(s / k, n) for s, k, n in self.sums.values()]
        tokens = sum(n for _, n in means)
        if tokens <= 0:
            return math.nan, math.nan
        ratio = sum(c for c, _ in means) / tokens
        m = len(means)
        if m < 2:
            return ratio, math.nan
        spread = sum((c - ratio * n) ** 2 for c, n in means) * m / (m - 1)
        return ratio, math.sqrt(spread) / tokens

    def floor(self, sigmas: float = 0.0) -> float:
        """The s.e. that infinitely many draws of these windows would reach: the spread of
        the windows' expected contributions, from the cross-product of two independent
        draws' residuals (E[(c₁ − Rn)(c₂ − Rn)] is the between-window variance alone),
        taken ``sigmas`` standard errors of that mean below its estimate.  NaN until every
        window has two draws."""
        pairs = [(p, self.sums[k][2]) for k, p in self.first_two.items()]
        if len(pairs) < 2 or any(len(p) < 2 for p, _ in pairs):
            return math.nan
        ratio, _ = self.estimate()
        m, tokens = len(pairs), sum(n for _, n in pairs)
        products = [(a - ratio * n) * (b - ratio * n) for (a, b), n in pairs]
        mean = sum(products) / m
        spread_se = math.sqrt(sum((q - mean) ** 2 for q in products) / (m - 1) / m)
        spread = (mean - sigmas * spread_se) * m * m / (m - 1)
        return math.sqrt(max(spread, 0.0)) / tokens

    def ess(self) -> float:
        return self.total ** 2 / self.square if self.square > 0 else math.nan

    def parts(self) -> dict:
        """The prior and reconstruction terms, nats per drawn token (0 without them)."""
        drawn = sum(n * k for _, k, n in self.sums.values())
        return {"prior": self.prior / max(drawn, 1), "reconstruction": self.reconstruction
                / max(drawn, 1)}
