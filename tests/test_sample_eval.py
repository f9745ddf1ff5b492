"""`difflaws sample` prints decoded text; `difflaws eval` reports NELBO ± SE, a perplexity
bound and bits per byte."""

from __future__ import annotations

import json
import math

import pytest

from difflaws import cli, engine
from difflaws.plugins import default_host
from difflaws.train.trainer import train

SPEC = """
name = "se"
[noise]
kind = "{noise}"
[backbone]
kind = "transformer"
width = 32
depth = 1
head_dim = 16
[parameterization]
kind = "completep"
[tokenizer]
kind = "bytes"
[data]
kind = "text"
paths = ["{corpus}/*.txt"]
val_fraction = 0.3
[sampler]
kind = "ancestral"
[train]
steps = 4
batch_size = 2
seq_len = 32
warmup_steps = 1
log_every = 2
eval_every = 4
eval_batches = 1
checkpoint_every = 4
device = "cpu"
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("se")
    corpus = root / "corpus"
    corpus.mkdir()
    for i in range(12):
        (corpus / f"{i}.txt").write_text(f"def f{i}(x):\n    return x * {i} + 1\n" * 6)
    path = root / "spec.toml"
    path.write_text(SPEC.format(noise="uniform", corpus=corpus))
    host = default_host()
    spec = engine.load(path, host=host)
    out = engine.open_run_dir(spec, str(root / "ws" / "se"), host=host)
    train(spec, out, quiet=True, host=host)
    return out


@pytest.mark.parametrize("sampler", ["adaptive", "ancestral", "self-correction"])
def test_sample_prints_text(run_dir, capsys, sampler):
    options = ["--option", "max_iterations=3"] if sampler == "self-correction" else []
    code = cli.main(["sample", str(run_dir), "--sampler", sampler, "--steps", "4", "--n", "2",
                     "--length", "24", "--prompt", "def ", "--seed", "1", *options])
    out = capsys.readouterr().out
    assert code == 0
    blocks = out.split("--- sample ")[1:]
    assert len(blocks) == 2
    for block in blocks:
        text = block.split("---\n", 1)[1]
        assert text.startswith("def ")  # the prompt is kept clean
        assert len(text.rstrip("\n")) > len("def ")  # decoded generated tokens follow it


def test_eval_reports_nelbo_with_error_and_bits_per_byte(run_dir, capsys, tmp_path):
    code = cli.main(["eval", str(run_dir), "--samples", "3", "--batches", "2", "--json"])
    res = json.loads(capsys.readouterr().out)
    assert code == 0 and res["n_estimates"] == 6 and res["stderr"] > 0
    assert res["perplexity_bound"] == pytest.approx(math.exp(res["nelbo"]))
    # text given on the command line: bits/byte uses its own bytes per token
    text = "x = 1\n" * 40
    (tmp_path / "held.txt").write_text(text)
    code = cli.main(["eval", str(run_dir), "--data", str(tmp_path / "held.txt"), "--samples", "2",
                     "--batches", "1", "--batch-size", "2", "--json"])
    res = json.loads(capsys.readouterr().out)
    n_bytes = len(text.encode())
    bytes_per_token = n_bytes / (n_bytes + 1)  # one EOS after the single document
    assert res["bits_per_byte"] == pytest.approx(res["nelbo"] / math.log(2) / bytes_per_token)
    code = cli.main(["eval", str(run_dir), "--samples", "2", "--batches", "1"])
    out = capsys.readouterr().out
    assert "±" in out and "perplexity" in out and "bits per byte" in out


def test_sample_on_a_directory_without_a_run_is_exit_2(tmp_path, capsys):
    assert cli.main(["sample", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err
