"""The quickstart's promise, small: a short masked-diffusion run learns context.

On a first-order Markov source the validation NELBO must fall clearly below the
unigram entropy (what a context-free model achieves) while staying above the
chain's exact entropy rate, which no model can beat in expectation.
"""

from __future__ import annotations

import pytest

from difflaws import engine
from difflaws.plugins import default_host
from difflaws.train.trainer import train

SPEC = """
name = "quality"
seed = 0
[noise]
kind = "masked"
[backbone]
kind = "transformer"
width = 64
depth = 1
head_dim = 32
[parameterization]
kind = "completep"
[optimizer]
kind = "laprop"
lr = 1.0
[tokenizer]
kind = "bytes"
[data]
kind = "markov"
n_symbols = 8
concentration = 0.2
train_tokens = 200000
val_tokens = 8000
doc_len = 255
[sampler]
kind = "ancestral"
[train]
steps = 300
batch_size = 16
seq_len = 64
warmup_steps = 10
log_every = 100
eval_every = 300
eval_batches = 4
checkpoint_every = 300
device = "cpu"
"""


@pytest.mark.slow
def test_short_run_beats_unigram_entropy_and_respects_the_floor(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_text(SPEC)
    host = default_host()
    spec = engine.load(path, host=host)
    summary = train(spec, engine.open_run_dir(spec, str(tmp_path / "ws" / "q"), host=host),
                    quiet=True, host=host)
    margin = 4 * summary["val_nelbo_stderr"]
    assert summary["val_nelbo"] < summary["unigram_entropy"] - max(0.2, margin)
    assert summary["val_nelbo"] > summary["entropy_rate"] - margin
