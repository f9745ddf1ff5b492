"""`difflaws run` on bad input: exit 2, a message naming the problem, nothing lost."""

from __future__ import annotations

from difflaws import cli

BASE = """
name = "cli"
[noise]
kind = "masked"
[backbone]
kind = "transformer"
width = 32
depth = 1
head_dim = 16
max_seq_len = 64
[parameterization]
kind = "completep"
[tokenizer]
kind = "bytes"
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
checkpoint_every = 2
device = "cpu"
"""
MARKOV = """
[data]
kind = "markov"
n_symbols = 8
train_tokens = 3000
val_tokens = 500
"""


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def write(tmp_path, text, name="spec.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_missing_data_path_is_exit_2(tmp_path, capsys):
    spec = write(tmp_path, BASE + f'[data]\nkind = "text"\npaths = ["{tmp_path}/none/*.txt"]\n')
    code, _, err = run(capsys, "run", spec, "--out", tmp_path / "ws" / "r", "--quiet")
    assert code == 2 and "matches no file" in err


def test_empty_corpus_is_exit_2(tmp_path, capsys):
    (tmp_path / "empty.txt").write_text("")
    spec = write(tmp_path, BASE + f'[data]\nkind = "text"\npaths = ["{tmp_path}/empty.txt"]\n')
    code, _, err = run(capsys, "run", spec, "--out", tmp_path / "ws" / "r", "--quiet")
    assert code == 2 and "corpus is empty" in err


def test_seq_len_above_backbone_max_is_exit_2(tmp_path, capsys):
    spec = write(tmp_path, BASE + MARKOV)
    code, _, err = run(capsys, "run", spec, "--set", "train.seq_len=128", "--out",
                       tmp_path / "ws" / "r")
    assert code == 2 and "train.seq_len" in err and "context limit 64" in err
    assert not (tmp_path / "ws").exists()


def test_tokenizer_without_mask_is_exit_2(tmp_path, capsys):
    from tokenizers import Tokenizer, models

    tok = tmp_path / "tokenizer.json"
    Tokenizer(models.WordLevel({"a": 0, "<|end_of_text|>": 1}, unk_token="a")).save(str(tok))
    spec = write(tmp_path, BASE.replace('kind = "bytes"', f'kind = "hf"\npath = "{tok}"')
                 + '[data]\nkind = "stdlib"\nmax_bytes = 1000\n')
    code, _, err = run(capsys, "run", spec, "--out", tmp_path / "ws" / "r", "--quiet")
    assert code == 2 and "no mask token" in err


def test_different_spec_refused_then_forced(tmp_path, capsys):
    spec = write(tmp_path, BASE + MARKOV)
    out = tmp_path / "ws" / "r"
    code, stdout, _ = run(capsys, "run", spec, "--out", out, "--quiet")
    assert code == 0 and "final val NELBO" in stdout and "unigram entropy" in stdout
    before = (out / "metrics.jsonl").read_text()
    code, _, err = run(capsys, "run", spec, "--out", out, "--set", "seed=5", "--quiet")
    assert code == 2 and "different spec" in err and "--force" in err
    assert (out / "metrics.jsonl").read_text() == before  # nothing lost
    code, _, _ = run(capsys, "run", spec, "--out", out, "--set", "seed=5", "--force", "--quiet")
    assert code == 0 and (out / "metrics.jsonl").read_text() != before
    # --json: one JSON object per logged step, then the summary
    code, stdout, _ = run(capsys, "run", spec, "--out", tmp_path / "ws" / "j", "--json")
    import json

    lines = [json.loads(line) for line in stdout.splitlines()]
    assert [r["step"] for r in lines[:-1]] == [2, 4] and "summary" in lines[-1]


def test_disk_full_during_checkpoint_is_exit_2(tmp_path, capsys, monkeypatch):
    import errno

    from difflaws.checkpoint import io as ckpt_io

    real = ckpt_io.write_file

    def write_file(path, data):
        if "step-00000004" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, data)

    monkeypatch.setattr(ckpt_io, "write_file", write_file)
    spec = write(tmp_path, BASE + MARKOV)
    out = tmp_path / "ws" / "r"
    code, _, err = run(capsys, "run", spec, "--out", out, "--quiet")
    assert code == 2 and "disk is full" in err and "step-00000002 is intact" in err
    assert [p.name for p in ckpt_io.listing(out)] == ["step-00000002"]
