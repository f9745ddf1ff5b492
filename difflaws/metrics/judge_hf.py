"""A Hugging Face causal LM as a generative-perplexity judge (docs/evaluation.md §2).

The sample is cut at the evaluated run's EOS into documents; each non-empty
document is decoded to text, retokenised by the judge's tokenizer without
special tokens, prefixed by the judge's BOS (its EOS when it has no BOS, as for
GPT-2, whose BOS and EOS are one token) and scored from its first real token
on.  A document longer than the judge's context (``max_length``, by default
the model's ``n_positions``/``max_position_embeddings``) is scored in the
rolling blocks of ``difflaws.metrics.windows``.
"""

from __future__ import annotations

from difflaws.errors import UserError
from difflaws.metrics.next_token import NextTokenScorer

CONTEXT_FIELDS = ("n_positions", "max_position_embeddings", "n_ctx", "seq_length")


class HFJudge:
    def __init__(self, name: str, source_tokenizer, device, batch_size: int,
                 max_length: int | None = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(name)
        self.model = AutoModelForCausalLM.from_pretrained(name).to(device).eval()
        self.source = source_tokenizer
        self.start = self.tokenizer.bos_token_id
        if self.start is None:
            self.start = self.tokenizer.eos_token_id
        if self.start is None:
            raise UserError(f"--judge {name}: its tokenizer has neither a BOS nor an EOS token "
                            "to start a document with; pass a causal LM whose tokenizer has one")
        window = max_length or next((getattr(self.model.config, f) for f in CONTEXT_FIELDS
                                     if getattr(self.model.config, f, None)), None)
        if not window:
            raise UserError(f"--judge {name}: its config names no context length; pass "
                            "--judge-max-length")
        model = self.model

        def logits(tokens, lengths):
            attend = torch.arange(tokens.shape[1], device=tokens.device)[None] < lengths[:, None]
            return model(input_ids=tokens, attention_mask=attend.long()).logits

        self.scorer = NextTokenScorer(logits, int(window), batch_size, device)
        self.settings = {"judge": name, "judge_kind": "huggingface", "window": int(window),
                         "start": "bos" if self.tokenizer.bos_token_id is not None else "eos"}

    def rows(self, sample) -> list[tuple[list[int], int]]:
        out, doc = [], []
        for t in [*[int(t) for t in sample], self.source.eos_id]:  # the last document ends too
            if t != self.source.eos_id:
                doc.append(t)
                continue
            if doc:
                # verbose=False: a document longer than the judge's context is no mistake, the
                # rolling windows score it, so the tokenizer's warning about it would mislead
                ids = self.tokenizer(self.source.decode(doc), add_special_tokens=False,
                                     verbose=False)["input_ids"]
                if ids:
                    out.append(([self.start, *ids], 1))
            doc = []
        return out
