"""A trained run's log-likelihood of continuations and of whole documents.

Which estimate a run gets follows from what its objective offers, not from
its kind: an objective with a noise process is scored by the Monte Carlo
NELBO of ``difflaws.metrics.elbo`` (a bound, with a standard error), an exact
causal objective without one by the exact next-token log-probabilities of
``difflaws.metrics.next_token`` (docs/evaluation.md §3).  Next-token scoring
puts the run's EOS before an empty context, the token every unprompted
sample and every packed training document follows.
"""

from __future__ import annotations

import contextlib

import attrs
import torch

from difflaws.errors import UserError
from difflaws.metrics.elbo import ElboScorer
from difflaws.metrics.next_token import NextTokenScorer


@attrs.frozen
class Score:
    """log p (nats, summed over the scored tokens; a lower bound in expectation for a NELBO),
    its standard error (0 when exact) and whether every token was the model's argmax."""

    log_prob: float
    stderr: float
    greedy: bool


def window_of(spec) -> int:
    """Tokens the run's model scores at once: its training context, within the backbone's."""
    limit = spec.backbone.max_context()
    return min(spec.train.seq_len, limit) if limit is not None else spec.train.seq_len


def scores_next_tokens(objective) -> bool:
    """Whether logits at t are an exact distribution of token t+1."""
    return objective.process is None and bool(objective.exact) and bool(objective.causal)


def next_token_logits(model):
    """``logits_fn`` for :class:`NextTokenScorer` over a difflaws causal model."""
    return lambda tokens, lengths: model(tokens, None)


class RunLikelihood:
    def __init__(self, run, mc_samples: int = 32, batch_size: int = 16, seed: int = 0,
                 autocast=contextlib.nullcontext) -> None:
        self.run, self.window = run, window_of(run.spec)
        objective = run.objective
        self.exact = scores_next_tokens(objective)
        if self.exact:
            self.scorer = NextTokenScorer(next_token_logits(run.model), self.window, batch_size,
                                          run.device)
        elif objective.process is not None:
            gen = torch.Generator(device=run.device).manual_seed(seed)
            self.scorer = ElboScorer(run.model, objective.process, self.window, mc_samples, gen,
                                     run.device, autocast, batch_size)
        else:
            raise UserError(f"the run's objective ({objective.figure_name}) has neither a noise "
                            "process nor exact causal next-token logits, so difflaws cannot "
                            "score text with it; score an autoregressive or a diffusion run")

    def continuations(self, pairs) -> list[Score]:
        """log p(continuation | context) for each (context ids, continuation ids) pair."""
        if self.exact:
            rows = []
            for ctx, cont in pairs:
                ctx = list(ctx) or [self.run.tokenizer.eos_id]
                rows.append((ctx + list(cont), len(ctx)))
            return [Score(float(s.log_probs.sum()), 0.0, bool(s.greedy.all()))
                    for s in self.scorer.score(rows)]
        out = []
        for ctx, cont in pairs:
            est = self.scorer.score(list(ctx) + list(cont), len(ctx))
            out.append(Score(-est.nelbo, est.stderr, est.greedy))
        return out

    def documents(self, docs) -> list[Score]:
        """log p(document) for each list of ids, in the windows of ``difflaws.metrics.windows``."""
        return self.continuations([([], list(d)) for d in docs])
