"""A difflaws next-token run as a generative-perplexity judge: it scores the sample's ids as
they are, after its EOS (docs/evaluation.md §2)."""

from __future__ import annotations

from difflaws.errors import UserError
from difflaws.metrics.likelihood import next_token_logits, scores_next_tokens, window_of
from difflaws.metrics.next_token import NextTokenScorer
from difflaws.metrics.tokenizer_match import describe, same_tokenizer


class RunJudge:
    def __init__(self, run_dir, source_tokenizer, device: str, batch_size: int, host=None):
        from difflaws.train.restore import load_trained

        self.run = load_trained(run_dir, device, host=host)
        objective = self.run.objective
        if not scores_next_tokens(objective):
            raise UserError(f"--judge {run_dir}: that run reports a {objective.figure_name}, not "
                            "an exact next-token NLL, so it cannot score samples; pass an "
                            "autoregressive run directory or a Hugging Face causal LM")
        if not same_tokenizer(self.run.tokenizer, source_tokenizer):
            raise UserError(f"--judge {run_dir}: its tokenizer ({describe(self.run.tokenizer)}) "
                            f"is not the evaluated run's ({describe(source_tokenizer)}), so the "
                            "token ids mean different things; pass a judge run trained with the "
                            "same tokenizer, or a Hugging Face causal LM (which retokenises "
                            "the decoded text)")
        self.scorer = NextTokenScorer(next_token_logits(self.run.model), window_of(self.run.spec),
                                      batch_size, self.run.device)
        self.settings = {"judge": str(run_dir), "judge_kind": "run", "judge_step": self.run.step,
                         "window": self.scorer.window, "start": "eos"}

    def rows(self, sample) -> list[tuple[list[int], int]]:
        """The sample's ids after the judge's EOS, every id scored (EOS and mask ids too)."""
        return [([self.run.tokenizer.eos_id, *[int(t) for t in sample]], 1)]
