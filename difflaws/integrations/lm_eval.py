"""difflaws run directories as an lm-eval-harness model, ``difflaws`` (docs/evaluation.md §4).

Importing this module registers the model in lm-eval's registry (it needs
``pip install 'difflaws[lm-eval]'``); ``difflaws lm-eval`` does it for you, and
``python -m difflaws.integrations.lm_eval ARGS`` runs lm-eval's own command line
with the model registered::

    python -m difflaws.integrations.lm_eval run --model difflaws \\
        --model_args run_dir=runs/mine,mc_samples=32 --tasks lambada_openai --device cuda

Model arguments: ``run_dir`` (required), ``mc_samples`` (Monte Carlo draws per
scored block of a diffusion run; default 32), ``steps`` (sampler steps for
``generate_until``; default 128), ``sampler`` (a sampler kind instead of the
spec's), ``seed`` (default 0), ``max_gen_toks`` (default 256), and lm-eval's
``batch_size`` and ``device`` (lm-eval's ``--batch_size``/``--device`` options).

* ``loglikelihood``: log p(continuation | context): exact for a next-token run,
  −NELBO of the continuation given the context as a clean prefix for a
  diffusion run (``difflaws.metrics.elbo``), a lower bound in expectation;
* ``loglikelihood_rolling``: the same for a whole document, in the rolling
  windows of ``difflaws.metrics.windows``;
* ``generate_until``: the run's sampler continues the context; the decoded text
  is cut at the first EOS and at the first stop sequence.
"""

from __future__ import annotations

import argparse
import contextlib

from lm_eval.api.model import LM
from lm_eval.api.registry import register_model

MODEL_NAME = "difflaws"
DEFAULT_MC_SAMPLES = 32
DEFAULT_MAX_GEN_TOKS = 256


def _int(value, default: int, name: str) -> int:
    """A model argument as an int; unset or lm-eval's "auto"/"auto:N" batch size: ``default``."""
    text = value.strip() if isinstance(value, str) else None
    if value is None or text in ("", "auto") or (text or "").startswith("auto:"):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        from difflaws.errors import UserError

        raise UserError(f"lm-eval model difflaws: {name}={value!r} is not a whole number; pass "
                        f"e.g. {name}={default}") from None


@register_model(MODEL_NAME)
class DifflawsLM(LM):
    def __init__(self, run_dir=None, mc_samples=DEFAULT_MC_SAMPLES, steps=128, sampler=None,
                 seed=0, max_gen_toks=DEFAULT_MAX_GEN_TOKS, batch_size=None, device=None,
                 **_lm_eval_extras) -> None:
        super().__init__()
        import torch

        from difflaws.errors import UserError
        from difflaws.metrics.likelihood import RunLikelihood
        from difflaws.plugins import default_host
        from difflaws.train.restore import load_trained
        from difflaws.train.trainer import autocast_for

        if not run_dir:
            raise UserError("lm-eval model difflaws: pass --model_args run_dir=RUN_DIR")
        # the arguments first: a bad one fails before the checkpoint is loaded
        self.mc_samples = _int(mc_samples, DEFAULT_MC_SAMPLES, "mc_samples")
        self.steps, self.seed = _int(steps, 128, "steps"), _int(seed, 0, "seed")
        for name, value in (("mc_samples", self.mc_samples), ("steps", self.steps)):
            if value < 1:
                raise UserError(f"lm-eval model difflaws: {name}={value}; pass at least 1")
        self.max_gen_toks = _int(max_gen_toks, DEFAULT_MAX_GEN_TOKS, "max_gen_toks")
        self.host = default_host()
        self.run = load_trained(run_dir, device or "auto", host=self.host)
        spec = self.run.spec
        # lm-eval's CLI passes --batch_size 1 unless told otherwise: the run's evaluation
        # batch is what its device holds, so a smaller request is no reason for more passes
        batch = max(_int(batch_size, 1, "batch_size"), spec.train.eval_batch_size
                    or spec.train.micro_batch_size or spec.train.batch_size)
        autocast = autocast_for(spec.train.precision, self.run.device) \
            if self.run.device.type != "cpu" else contextlib.nullcontext
        self.likelihood = RunLikelihood(self.run, self.mc_samples, batch, self.seed, autocast)
        self.sampler_kind = sampler
        self._device = self.run.device
        self.generator = torch.Generator(device=self.run.device).manual_seed(self.seed)

    # -- tokenization ---------------------------------------------------------------
    @property
    def tokenizer_name(self) -> str:
        return f"difflaws:{self.run.tokenizer.name}:{self.run.tokenizer.vocab_size}"

    def encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        """Context and continuation ids, split from the encoding of their concatenation so a
        token that spans the boundary is not cut twice; trailing context spaces move to the
        continuation (lm-eval's convention)."""
        stripped = context.rstrip()
        continuation = context[len(stripped):] + continuation
        encode = self.run.tokenizer.encode
        whole = [int(t) for t in encode(stripped + continuation)]
        n_ctx = len(encode(stripped)) if stripped else 0
        return whole[:n_ctx], whole[n_ctx:]

    # -- lm-eval's three requests ------------------------------------------------------
    def loglikelihood(self, requests, disable_tqdm: bool = False):
        pairs = [self.encode_pair(*req.args) for req in requests]
        scores = self.likelihood.continuations(pairs)
        out = []
        for req, score in zip(requests, scores):
            result = (float(score.log_prob), bool(score.greedy))
            self.cache_hook.add_partial("loglikelihood", req.args, result)
            out.append(result)
        return out

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        docs = [[int(t) for t in self.run.tokenizer.encode(req.args[0])] for req in requests]
        out = []
        for req, score in zip(requests, self.likelihood.documents(docs)):
            self.cache_hook.add_partial("loglikelihood_rolling", req.args, score.log_prob)
            out.append(float(score.log_prob))
        return out

    def generate_until(self, requests, disable_tqdm: bool = False):
        import torch

        from difflaws.commands.sample import sampler_config
        from difflaws.metrics.likelihood import window_of
        from difflaws.sampling.denoiser import CountedDenoiser

        config = sampler_config(argparse.Namespace(sampler=self.sampler_kind, option=[]),
                                self.run.spec, self.host)
        sampler = config.build()
        denoiser = CountedDenoiser(self.run.model,
                                   reads_log_snr=self.run.spec.backbone.reads_log_snr())
        window = window_of(self.run.spec)
        tok = self.run.tokenizer
        out = []
        for req in requests:
            context, kwargs = req.args
            kwargs = dict(kwargs or {})
            until = kwargs.get("until") or []
            until = [until] if isinstance(until, str) else list(until)
            asked = _int(kwargs.get("max_gen_toks"), self.max_gen_toks, "max_gen_toks")
            new = min(asked, window - 1)
            prompt = [int(t) for t in tok.encode(context)][-(window - new):] or [tok.eos_id]
            prompt_t = torch.tensor([prompt], dtype=torch.long, device=self.run.device)
            with torch.no_grad():
                row = sampler.sample(denoiser, self.run.process, 1, len(prompt) + new,
                                     self.steps, prompt=prompt_t, generator=self.generator,
                                     device=self.run.device)[0, len(prompt):].tolist()
            if tok.eos_id in row:  # an EOS ends the document
                row = row[:row.index(tok.eos_id)]
            text = cut_at_stops(tok.decode(row), until)
            self.cache_hook.add_partial("generate_until", req.args, text)
            out.append(text)
        return out


def cut_at_stops(text: str, until) -> str:
    """``text`` up to the earliest of the stop sequences (all of it when none occurs)."""
    cuts = [text.find(s) for s in until if s]
    cuts = [c for c in cuts if c >= 0]
    return text[:min(cuts)] if cuts else text


def main() -> None:
    """lm-eval's own command line, with the ``difflaws`` model registered."""
    from lm_eval.__main__ import cli_evaluate

    cli_evaluate()


if __name__ == "__main__":
    main()
