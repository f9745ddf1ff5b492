"""Evaluation metrics beyond the held-out loss (docs/evaluation.md).

One concept per module:

* ``metric``: one measured figure (value, standard error, count, settings), as the
  results DB's ``evaluations`` table stores it;
* ``stats``: means and their standard errors;
* ``sample_stats``: sample entropy and n-gram repetition of generated token rows;
* ``generation``: N samples from a run's sampler, timed, their denoiser calls (NFE) counted;
* ``windows``: how a long sequence is cut into blocks a model can score;
* ``next_token``: exact next-token log-probabilities through a causal model;
* ``elbo``: the Monte Carlo NELBO of target tokens given a clean context;
* ``likelihood``: which of the two scores a trained run's continuations;
* ``tokenizer_match``: whether two tokenizers map ids to the same text;
* ``judge_run``, ``judge_hf``, ``judge``: generative-perplexity judges (a difflaws
  next-token run, a Hugging Face causal LM) and how ``--judge`` picks one;
* ``gen_ppl``: generative perplexity of samples under a judge.
"""
