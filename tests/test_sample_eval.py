"""`difflaws sample` prints decoded text with its settings (and writes them with --out),
warns about degenerate samples; `difflaws eval` reports NELBO ± SE, a perplexity bound
and bits per byte."""

from __future__ import annotations

import json
import math

import pytest
import torch

from difflaws import cli
from eval_helpers import TEXT, train_run, write_corpus

UNIFORM = '[noise]\nkind = "uniform"\n[parameterization]\nkind = "completep"\n' \
    '[sampler]\nkind = "ancestral"\n'


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("se")
    return train_run(root, "se", UNIFORM + TEXT.format(corpus=write_corpus(root)), steps=4)


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


def test_sample_out_records_every_setting(run_dir, capsys, tmp_path):
    out = tmp_path / "samples.jsonl"
    code = cli.main(["sample", str(run_dir), "--sampler", "ancestral", "--option", "block_length=8",
                     "--option", "top_k=5", "--steps", "3", "--n", "2", "--length", "24",
                     "--prompt", "def ", "--seed", "4", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    header = printed.splitlines()[0]
    for part in ("sampler ancestral", "block_length=8", "top_k=5", "temperature=1.0",
                 "steps 3", "length 24", "seed 4", "NFE "):
        assert part in header, part
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["index"] for r in records] == [0, 1]
    assert [p.name for p in tmp_path.iterdir()] == ["samples.jsonl"]  # no temporary left over
    first = records[0]
    assert first["sampler"] == {"kind": "ancestral", "temperature": 1.0, "top_k": 5, "top_p": 1.0,
                                "min_p": 0.0, "block_length": 8, "kv_cache": True,
                                "skip_unchanged": True, "greedy_final": False}
    assert (first["seed"], first["steps"], first["length"], first["prompt"]) == (4, 3, 24, "def ")
    assert first["run_dir"] == str(run_dir) and first["step"] == 4
    # 3 blocks of 4 calls after the prompt, plus feeding the prompt and two blocks
    assert 1 <= first["nfe"] <= 15 and first["wall_seconds"] >= 0
    for r in records:
        assert len(r["tokens"]) == 24 and r["text"].startswith("def ")
        assert r["text"] in printed


def test_sample_out_must_be_a_file_path(run_dir, capsys, tmp_path):
    assert cli.main(["sample", str(run_dir), "--out", str(tmp_path)]) == 2
    assert "--out" in capsys.readouterr().err


def test_block_sampling_runs_past_the_training_length(run_dir, capsys):
    code = cli.main(["sample", str(run_dir), "--option", "block_length=16", "--steps", "2",
                     "--n", "1", "--length", "48"])
    captured = capsys.readouterr()
    assert code == 0 and "beyond train.seq_len 32" in captured.err
    assert "length 48" in captured.out.splitlines()[0]


def test_remdm_refuses_a_uniform_noise_run(run_dir, capsys):
    assert cli.main(["sample", str(run_dir), "--sampler", "remdm", "--steps", "2"]) == 2
    assert "not masked" in capsys.readouterr().err


class Constant(torch.nn.Module):
    """A 'model' whose logits ignore the input: favouring ``ids`` equally, nothing else."""

    def __init__(self, vocab_size, ids):
        super().__init__()
        self.logits = torch.full((vocab_size,), -30.0)
        self.logits[ids] = 0.0

    def forward(self, tokens, log_snr=None, **_):
        return self.logits.expand(*tokens.shape, -1)


@pytest.mark.parametrize("text, warned", [("a", "fills 100%"), (" ", "only whitespace"),
                                          ("abcdefghij", None)])
def test_degenerate_samples_are_warned_about(run_dir, capsys, monkeypatch, text, warned):
    import difflaws.train.restore as restore

    real = restore.load_trained

    def constant_model(*args, **kwargs):
        run = real(*args, **kwargs)
        run.model = Constant(run.tokenizer.vocab_size, run.tokenizer.encode(text))
        return run

    monkeypatch.setattr(restore, "load_trained", constant_model)
    code = cli.main(["sample", str(run_dir), "--steps", "4", "--n", "2", "--length", "20"])
    err = capsys.readouterr().err
    assert code == 0
    if warned:
        for i in (1, 2):
            assert f"sample {i}/2 is degenerate" in err
        assert warned in err and "--steps" in err and "temperature" in err
    else:
        assert "degenerate" not in err


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
