"""Tiny trained runs for the evaluation tests: a few steps on a small byte-level corpus.

A masked-diffusion run and an autoregressive run share the byte tokenizer (so
one can judge the other); a BPE run has a tokenizer of its own."""

from __future__ import annotations

from difflaws import engine
from difflaws.plugins import default_host
from difflaws.train.trainer import train

COMMON = """
[backbone]
kind = "transformer"
width = 32
depth = 1
head_dim = 16
[train]
steps = {steps}
batch_size = 4
seq_len = 32
warmup_steps = 1
log_every = {steps}
eval_every = {steps}
eval_batches = 1
checkpoint_every = {steps}
device = "cpu"
"""
TEXT = """
[tokenizer]
kind = "bytes"
[data]
kind = "text"
paths = ["{corpus}/*.txt"]
val_fraction = 0.3
"""
MASKED = '[noise]\nkind = "masked"\n[sampler]\nkind = "ancestral"\n'
AR = '[objective]\nkind = "autoregressive"\n'
BPE = '[tokenizer]\nkind = "bpe"\nvocab_size = 300\n'


def write_corpus(root):
    corpus = root / "corpus"
    corpus.mkdir(exist_ok=True)
    for i in range(12):
        (corpus / f"{i}.txt").write_text(f"def f{i}(x):\n    return x * {i} + 1\n" * 6)
    return corpus


def train_run(root, name: str, body: str, steps: int = 6):
    """Train the spec ``body`` (+ the shared backbone and train tables) into root/ws/name."""
    path = root / f"{name}.toml"
    path.write_text(f'name = "{name}"\n' + body + COMMON.format(steps=steps))
    host = default_host()
    spec = engine.load(path, host=host)
    run_dir = engine.open_run_dir(spec, str(root / "ws" / name), host=host)
    train(spec, run_dir, quiet=True, host=host)
    return run_dir


_RUNS: dict = {}  # trained once per test session, shared by the evaluation test files


def text_runs(root, bpe: bool = False) -> dict:
    """{"masked": run_dir, "ar": run_dir} on one corpus, byte tokenizer, one workspace; with
    ``bpe`` also "ar_bpe", the same autoregressive run with a 300-id BPE tokenizer.  The runs
    are trained under the first ``root`` given and reused by later calls."""
    if not _RUNS:
        _RUNS["root"] = root
        _RUNS["body"] = TEXT.format(corpus=write_corpus(root))
        _RUNS["masked"] = train_run(root, "masked", MASKED + _RUNS["body"])
        _RUNS["ar"] = train_run(root, "ar", AR + _RUNS["body"])
    if bpe and "ar_bpe" not in _RUNS:
        _RUNS["ar_bpe"] = train_run(_RUNS["root"], "ar_bpe", AR + _RUNS["body"].replace(
            '[tokenizer]\nkind = "bytes"\n', BPE), steps=2)
    return {k: v for k, v in _RUNS.items() if k not in ("root", "body")}
