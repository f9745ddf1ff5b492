"""The bad-input battery: every bad spec, ``--set`` value and CLI argument ends in exit 2
with one message that names the key (or argument) and a fix, no traceback, and nothing
written, so the corrected command then runs.

Most cases run in-process through ``difflaws.cli.main`` (fast); a sample runs through a
real subprocess to show that no traceback reaches a user.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from difflaws import cli
from difflaws.errors import UserError

BASE = """\
name = "bad"
[noise]
kind = "uniform"
[backbone]
kind = "transformer"
shape = "L1-D32"
head_dim = 16
[optimizer]
kind = "adamw"
[data]
kind = "markov"
n_symbols = 8
train_tokens = 4000
val_tokens = 2000
[train]
steps = 4
batch_size = 4
seq_len = 32
warmup_steps = 1
log_every = 1
eval_every = 4
eval_batches = 1
checkpoint_every = 4
"""

# words that show the message says what to do
HINT = re.compile(r"fix|did you mean|\buse\b|\bpass\b|\bwrite\b|\bgive\b|\bchoose\b|\bpick\b|"
                  r"\blower\b|\braise\b|\bcheck\b|e\.g\.|shorten|remove|create it|rewrite|"
                  r"tokenize|usage:|known:|available|restore|map one|save the|\bset\b|"
                  r"one of|flatten|fewer|install|\bmust\b|expected|\bdrop\b", re.I)


def snapshot(*roots: Path) -> list:
    """Every file and directory under ``roots`` with its size and mtime."""
    out = []
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in sorted(dirnames + filenames):
                p = Path(dirpath) / name
                st = p.lstat()
                out.append((str(p.relative_to(root.parent)), st.st_size, st.st_mtime_ns))
    return sorted(out)


def call(argv, capsys) -> tuple[int, str]:
    capsys.readouterr()
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    return code, capsys.readouterr().err


def check(code: int, err: str, key: str) -> None:
    assert code == 2, f"exit {code}: {err}"
    assert "Traceback" not in err, err
    assert key in err, f"{key!r} is not named in: {err}"
    assert HINT.search(err), f"no fix/hint in: {err}"


def _split(cases):
    """``(id, *values)`` tuples → (params, ids)."""
    return [c[1:] for c in cases], [c[0] for c in cases]


def one_problem(err: str) -> bool:
    """One message: a SpecError of several problems says so on its first line."""
    return "problems" not in err.splitlines()[0] and err.count("\n  - ") <= 1


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# -- (1) spec files: (id, TOML text, the key the message must name) ------------------------------
def with_table(table: str, text: str) -> str:
    """BASE with ``text`` appended to its ``[table]`` (or as a new table)."""
    if f"[{table}]\n" in BASE:
        return BASE.replace(f"[{table}]\n", f"[{table}]\n{text}\n", 1)
    return f"{BASE}[{table}]\n{text}\n"


def replace_key(table: str, key: str, value: str) -> str:
    lines, out, current = BASE.splitlines(), [], ""
    done = False
    for line in lines:
        if line.startswith("["):
            current = line.strip("[]")
        if current == table and line.split(" = ")[0] == key:
            out.append(f"{key} = {value}")
            done = True
        else:
            out.append(line)
    text = "\n".join(out) + "\n"
    return text if done else with_table(table, f"{key} = {value}")


def top(text: str) -> str:
    """``text`` as top-level keys (before BASE's tables), or appended if it is a table."""
    return f"{BASE}\n{text}\n" if text.startswith("[") else f"{text}\n{BASE}"


SPEC_CASES = [
    ("malformed-string", 'name = "unclosed\n', "spec.toml"),
    ("malformed-table", "[train\nsteps = 1\n", "spec.toml"),
    ("duplicate-key", top("seed = 1\nseed = 2"), "spec.toml"),
    ("nested-5000", top(f"x = {nested(5000)}"), "spec.toml"),
    ("nested-40", top(f"x = {nested(40)}"), "x.0.0"),
    ("huge-int-literal", top("seed = " + "7" * 5000), "spec.toml"),
    ("missing-base", top('base = "nope.toml"'), "base"),
    ("base-not-string", top("base = 3"), "base"),
    ("base-nul", top('base = "a\\u0000b"'), "base"),
    ("base-too-long", top(f'base = "{"b" * 10_000}.toml"'), "base"),
    ("unknown-top-key", top("sed = 1"), "did you mean 'seed'"),
    ("unknown-train-key", with_table("train", "stepz = 4"), "train.stepz"),
    ("schema-version", top("schema_version = 2"), "schema_version"),
    ("required-plugins-string", top('required_plugins = "name>=1"'), "required_plugins"),
    ("required-plugins-table", top("required_plugins = {a = 1}"), "required_plugins"),
    ("required-plugins-int", top("required_plugins = [3]"), "required_plugins.0"),
    ("required-plugins-invalid", top('required_plugins = ["not a req !!"]'), "required_plugins.0"),
    ("required-plugins-missing", top('required_plugins = ["difflaws-nonexistent>=1"]'),
     "required_plugins.0"),
    ("loggers-string", top('loggers = "csv"'), "loggers"),
    ("loggers-table", top('loggers = {kind = "csv"}'), "loggers"),
    ("loggers-unknown", top('loggers = [{kind = "nope"}]'), "loggers.0.kind"),
    ("noise-missing", BASE.replace('[noise]\nkind = "uniform"\n', ""), "noise"),
    ("noise-int", BASE.replace('[noise]\nkind = "uniform"\n', "noise = 3\n"), "noise"),
    ("noise-no-kind", BASE.replace('kind = "uniform"\n', "", 1), "noise.kind"),
    ("noise-typo-kind", BASE.replace('"uniform"', '"maskd"'), "did you mean 'masked'"),
    ("noise-nan-shift", BASE.replace('"uniform"', '"hybrid"\nshift = nan'), "noise.shift"),
    ("noise-inf-scale", BASE.replace('"uniform"', '"hybrid"\nscale = inf'), "noise.scale"),
    ("shape-depth-0", replace_key("backbone", "shape", '"L0-D32"'), "backbone.shape"),
    ("shape-garbage", replace_key("backbone", "shape", '"bad"'), "backbone.shape"),
    ("shape-and-width", with_table("backbone", "width = 32\ndepth = 1"), "backbone.shape"),
    ("head-dim-odd", replace_key("backbone", "head_dim", "15"), "backbone"),
    ("norm-eps-inf", with_table("backbone", "norm_eps = inf"), "backbone.norm_eps"),
    ("rope-theta-0", with_table("backbone", "rope_theta = 0.0"), "backbone.rope_theta"),
    ("softcap-negative", with_table("backbone", "attn_softcap = -1.0"), "backbone.attn_softcap"),
    ("mlp-ratio-huge", with_table("backbone", "mlp_ratio = 1000"), "backbone.mlp_ratio"),
    ("max-seq-len-short", with_table("backbone", "max_seq_len = 16"), "train.seq_len"),
    ("betas-one", with_table("optimizer", "betas = [0.9]"), "optimizer.betas"),
    ("betas-above-1", with_table("optimizer", "betas = [1.5, 0.9]"), "optimizer.betas"),
    ("betas-string", with_table("optimizer", 'betas = "ab"'), "optimizer.betas"),
    ("betas-table", with_table("optimizer", "betas = {}"), "optimizer.betas"),
    ("lr-negative", with_table("optimizer", "lr = -1.0"), "optimizer.lr"),
    ("lr-inf", with_table("optimizer", "lr = inf"), "optimizer.lr"),
    ("lr-nan", with_table("optimizer", "lr = nan"), "optimizer.lr"),
    ("lr-zero", with_table("optimizer", "lr = 0.0"), "optimizer.lr"),
    ("eps-zero", with_table("optimizer", "eps = 0.0"), "optimizer.eps"),
    ("weight-decay-negative", with_table("optimizer", "weight_decay = -1.0"),
     "optimizer.weight_decay"),
    ("optimizer-unknown", BASE.replace('"adamw"', '"sgdd"'), "optimizer.kind"),
    ("steps-0", replace_key("train", "steps", "0"), "train.steps"),
    ("steps-negative", replace_key("train", "steps", "-1"), "train.steps"),
    ("steps-2**70", replace_key("train", "steps", str(2 ** 70)), "train.steps"),
    ("steps-2**41", replace_key("train", "steps", str(2 ** 41)), "train.steps"),
    ("steps-float", replace_key("train", "steps", "1.5"), "train.steps"),
    ("steps-string", replace_key("train", "steps", '"ten"'), "train.steps"),
    ("steps-bool", replace_key("train", "steps", "true"), "train.steps"),
    ("batch-size-0", replace_key("train", "batch_size", "0"), "train.batch_size"),
    ("batch-size-huge", replace_key("train", "batch_size", str(2 ** 30)), "train.batch_size"),
    ("seq-len-0", replace_key("train", "seq_len", "0"), "train.seq_len"),
    ("device-banana", with_table("train", 'device = "banana"'), "train.device"),
    ("device-cuda-x", with_table("train", 'device = "cuda:x"'), "train.device"),
    ("device-empty", with_table("train", 'device = ""'), "train.device"),
    ("precision-fp16", with_table("train", 'precision = "fp16"'), "train.precision"),
    ("grad-clip-inf", with_table("train", "grad_clip = inf"), "train.grad_clip"),
    ("grad-clip-negative", with_table("train", "grad_clip = -1.0"), "train.grad_clip"),
    ("cooldown-2", with_table("train", "cooldown_fraction = 2.0"), "train.cooldown_fraction"),
    ("warmup-negative", replace_key("train", "warmup_steps", "-1"), "train.warmup_steps"),
    ("keep-checkpoints-0", with_table("train", "keep_checkpoints = 0"), "train.keep_checkpoints"),
    ("compile-string", with_table("train", 'compile = "yes"'), "train.compile"),
    ("train-array-of-tables", BASE.replace("[train]", "[[train]]"), "train"),
    ("markov-n-symbols-1", replace_key("data", "n_symbols", "1"), "data.n_symbols"),
    ("markov-table-2.3TiB", BASE.replace("n_symbols = 8", "n_symbols = 200\norder = 4"),
     "data.order"),
    ("markov-order-0", with_table("data", "order = 0"), "data.order"),
    ("markov-train-tokens-2**62", replace_key("data", "train_tokens", str(2 ** 62)),
     "data.train_tokens"),
    ("markov-train-tokens-0", replace_key("data", "train_tokens", "0"), "data.train_tokens"),
    ("markov-val-tokens-negative", replace_key("data", "val_tokens", "-5"), "data.val_tokens"),
    ("markov-concentration-0", with_table("data", "concentration = 0.0"), "data.concentration"),
    ("markov-concentration-inf", with_table("data", "concentration = inf"),
     "data.concentration"),
    ("markov-seed-negative", with_table("data", "seed = -1"), "data.seed"),
    ("markov-seed-2**70", with_table("data", f"seed = {2 ** 70}"), "data.seed"),
    ("markov-doc-len-2**40", with_table("data", f"doc_len = {2 ** 40}"), "data.doc_len"),
    ("text-paths-empty", BASE.replace('kind = "markov"\nn_symbols = 8\ntrain_tokens = 4000\n'
                                      'val_tokens = 2000\n', 'kind = "text"\npaths = []\n'),
     "data.paths"),
    ("text-paths-string", BASE.replace('kind = "markov"\nn_symbols = 8\ntrain_tokens = 4000\n'
                                       'val_tokens = 2000\n', 'kind = "text"\npaths = "a.txt"\n'),
     "data.paths"),
    ("text-paths-blank", BASE.replace('kind = "markov"\nn_symbols = 8\ntrain_tokens = 4000\n'
                                      'val_tokens = 2000\n', 'kind = "text"\npaths = [" "]\n'),
     "data.paths.0"),
    ("tokens-no-path", BASE.replace('kind = "markov"\nn_symbols = 8\ntrain_tokens = 4000\n'
                                    'val_tokens = 2000\n', 'kind = "tokens"\n'), "data.path"),
    ("facts-more-than-keys", BASE.replace('kind = "markov"', 'kind = "facts"\nn_facts = 100')
     .replace("n_symbols = 8", "n_symbols = 8\nkey_len = 2"), "data.n_facts"),
    ("facts-key-codes-overflow", BASE.replace('kind = "markov"', 'kind = "facts"\nkey_len = 8')
     .replace("n_symbols = 8", "n_symbols = 65536"), "data.key_len"),
    ("facts-zipf-negative", BASE.replace('kind = "markov"', 'kind = "facts"\nzipf = -1.0'),
     "data.zipf"),
    ("bpe-vocab-small", top('[tokenizer]\nkind = "bpe"\nvocab_size = 100'),
     "tokenizer.vocab_size"),
    ("bpe-vocab-huge", top(f'[tokenizer]\nkind = "bpe"\nvocab_size = {2 ** 30}'),
     "tokenizer.vocab_size"),
    ("strategy-zero3", top('[distributed]\nstrategy = "zero3"'), "distributed.strategy"),
    ("backend-mpi", top('[distributed]\nbackend = "mpi"'), "distributed.backend"),
    ("seed-2**70", top(f"seed = {2 ** 70}"), "seed"),
    ("seed-float", top("seed = 1.5"), "seed"),
    ("seed-string", top('seed = "x"'), "seed"),
    ("sampler-unknown", top('[sampler]\nkind = "nope"'), "sampler.kind"),
    ("parameterization-unknown", top('[parameterization]\nkind = "nope"'),
     "parameterization.kind"),
    ("out-dir-int", top("out_dir = 3"), "out_dir"),
    ("name-int", BASE.replace('name = "bad"', "name = 5"), "name"),
    ("empty-file", "", "backbone"),
]
SPEC_CASES.append(("seed-negative", top("seed = -1"), "seed"))
SPEC_CASES += [  # data.unique_tokens, which every data kind inherits
    ("unique-tokens-negative", with_table("data", "unique_tokens = -1"), "data.unique_tokens"),
    ("unique-tokens-float", with_table("data", "unique_tokens = 640.0"), "data.unique_tokens"),
    ("unique-tokens-string", with_table("data", 'unique_tokens = "1e6"'), "data.unique_tokens"),
]
_SPEC_PARAMS, _SPEC_IDS = _split(SPEC_CASES)


@pytest.mark.parametrize("text, key", _SPEC_PARAMS, ids=_SPEC_IDS)
def test_bad_spec_file(tmp_path, monkeypatch, capsys, text, key):
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "spec.toml"
    spec.write_text(text, encoding="utf-8")
    before = snapshot(tmp_path)
    code, err = call(["validate", spec], capsys)
    check(code, err, key)
    if key != "spec.toml" and "did you mean" not in key:
        assert "spec.toml" in err or "--set" in err, err  # the file that set the value
    assert one_problem(err) or text == ""  # an empty spec lacks both noise and backbone
    assert snapshot(tmp_path) == before


def test_not_utf8_and_directory_specs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "latin.toml").write_bytes(b'name = "\xff\xfe"\n')
    (tmp_path / "dir.toml").mkdir()
    before = snapshot(tmp_path)
    for name in ("latin.toml", "dir.toml", "missing.toml"):
        code, err = call(["validate", name], capsys)
        check(code, err, name)
    assert snapshot(tmp_path) == before


def test_base_cycle(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.toml").write_text('base = "b.toml"\n' + BASE)
    (tmp_path / "b.toml").write_text('base = "a.toml"\n')
    before = snapshot(tmp_path)
    code, err = call(["validate", "a.toml"], capsys)
    check(code, err, "base")
    assert "cycle" in err
    assert snapshot(tmp_path) == before


def test_long_name_does_not_crash_validate(tmp_path, monkeypatch, capsys):
    """The name rule is another module's; nothing on the load path may crash on one."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spec.toml").write_text(BASE.replace('"bad"', '"' + "n" * 10_000 + '"'))
    code, err = call(["validate", "spec.toml"], capsys)
    assert code in (0, 2) and "Traceback" not in err
    if code == 2:
        assert "name" in err


# -- (2) --set values: (id, overrides, key) --------------------------------------------------
SET_CASES = [
    ("steps-word", ["train.steps=ten"], "train.steps"),
    ("steps-float", ["train.steps=1.5"], "train.steps"),
    ("steps-bool", ["train.steps=true"], "train.steps"),
    ("steps-list", ["train.steps=[1]"], "train.steps"),
    ("steps-table", ["train.steps={a = 1}"], "train.steps"),
    ("steps-2**70", [f"train.steps={2 ** 70}"], "train.steps"),
    ("steps-negative", ["train.steps=-5"], "train.steps"),
    ("seed-2**70", [f"seed={2 ** 70}"], "seed"),
    ("seed-inf", ["seed=1e999"], "seed"),
    ("noise-int", ["noise=3"], "noise"),
    ("noise-unknown-kind", ["noise=maskd"], "noise.kind"),
    ("noise-unknown-key", ["noise.shfit=1.0"], "noise.shfit"),
    ("unknown-table", ["trian.steps=4"], "trian"),
    ("under-a-scalar", ["train.steps.x=1"], "train.steps"),
    ("not-key-value", ["novalue"], "--set"),
    ("empty-key", ["=3"], "--set"),
    ("empty-key-part", ["train..steps=1"], "train..steps"),
    ("space-in-key", ["train steps=1"], "train steps"),
    ("unclosed-list", ["train.steps=[1,"], "train.steps"),
    ("unclosed-betas", ["optimizer.betas=[0.9"], "optimizer.betas"),
    ("unclosed-string", ['name="unclosed'], "name"),
    ("unclosed-literal", ["name='x"], "name"),
    ("unclosed-table", ["data={kind="], "data"),
    ("multi-line", ["name=1\nseed=2"], "name"),
    ("nested-5000", [f"train.steps={nested(5000)}"], "train.steps"),
    ("nested-40", [f"train.steps={nested(40)}"], "train.steps"),
    ("lr-nan", ["optimizer.lr=nan"], "optimizer.lr"),
    ("lr-minus-inf", ["optimizer.lr=-inf"], "optimizer.lr"),
    ("lr-1e999", ["optimizer.lr=1e999"], "optimizer.lr"),
    ("betas-string", ['optimizer.betas="0.9,0.99"'], "optimizer.betas"),
    ("required-plugins-string", ["required_plugins='x>=1'"], "required_plugins"),
    ("loggers-string", ["loggers=csv"], "loggers"),
    ("device-banana", ["train.device=banana"], "train.device"),
    ("device-cuda-abc", ["train.device=cuda:abc"], "train.device"),
    ("markov-table", ["data.n_symbols=200", "data.order=4"], "data.order"),
    ("markov-tokens-2**62", [f"data.train_tokens={2 ** 62}"], "data.train_tokens"),
    ("grad-clip-inf", ["train.grad_clip=inf"], "train.grad_clip"),
    ("norm-eps-inf", ["backbone.norm_eps=inf"], "backbone.norm_eps"),
    ("batch-size-zero", ["train.batch_size=0"], "train.batch_size"),
    ("name-list", ["name=[1]"], "name"),
    ("seed-negative", ["seed=-1"], "seed"),
    ("unique-tokens-negative", ["data.unique_tokens=-32"], "data.unique_tokens"),
    ("unique-tokens-float", ["data.unique_tokens=1.5"], "data.unique_tokens"),
    ("unique-tokens-below-seq-len", ["data.unique_tokens=31"], "data.unique_tokens"),
]


_SET_PARAMS, _SET_IDS = _split(SET_CASES)


@pytest.mark.parametrize("overrides, key", _SET_PARAMS, ids=_SET_IDS)
def test_bad_set_value(tmp_path, monkeypatch, capsys, overrides, key):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spec.toml").write_text(BASE)
    before = snapshot(tmp_path)
    code, err = call(["validate", "spec.toml", *(a for o in overrides for a in ("--set", o))],
                     capsys)
    check(code, err, key)
    assert one_problem(err)
    assert snapshot(tmp_path) == before


# -- (3) other commands' arguments, in a workspace with a spec, a sweep and CSVs ---------------
SWEEP = 'base_spec = "../spec.toml"\n[axes]\n"optimizer.lr" = [0.1, 0.2]\n'
GOOD_CSV = "params,tokens,loss\n1e6,2e7,3.0\n2e6,4e7,2.8\n4e6,8e7,2.6\n8e6,1.6e8,2.5\n"


def workspace(root: Path) -> None:
    (root / "spec.toml").write_text(BASE)
    (root / "sweeps").mkdir()
    (root / "sweeps" / "s.toml").write_text(SWEEP)
    (root / "ok.csv").write_text(GOOD_CSV)
    (root / "latin.csv").write_bytes(b"params,tokens,loss\n\xff\xfe,1,2\n")
    (root / "text.csv").write_text("params,tokens,loss\nabc,2,3\n")
    (root / "neg.csv").write_text("params,tokens,loss\n-1,2,3\n")
    (root / "empty.csv").write_text("")
    (root / "ragged.csv").write_text("params,tokens,loss\n1,2\n")
    for name, metrics, spec in (("badjson", "{not json\nnext\n", None),
                                ("badspec", '{"step": 1, "tokens": 10, "train_nelbo": 2.0}\n',
                                 "[[["),
                                ("badrecord", "[1, 2]\n", None)):
        (root / name).mkdir()
        (root / name / "metrics.jsonl").write_text(metrics)
        if spec is not None:
            (root / name / "spec.toml").write_text(spec)
    (root / "bad.db").write_text("not a database")
    (root / "afile").write_text("a file, not a directory\n")


CLI_CASES = [
    # validate / run
    ("validate-no-spec", ["validate"], "spec"),
    ("validate-set-no-value", ["validate", "spec.toml", "--set"], "--set"),
    ("run-bad-set", ["run", "spec.toml", "--set", "train.steps=ten"], "train.steps"),
    ("run-dry-bad-set", ["run", "spec.toml", "--dry-run", "--set", "optimizer.lr=inf"],
     "optimizer.lr"),
    ("run-nproc-negative", ["run", "spec.toml", "--nproc", "-1"], "--nproc"),
    ("run-nproc-word", ["run", "spec.toml", "--nproc", "two"], "--nproc"),
    ("run-markov-table", ["run", "spec.toml", "--set", "data.n_symbols=200", "--set",
                          "data.order=4"], "data.order"),
    ("run-out-dir-file", ["run", "spec.toml", "--set", "out_dir=afile"], "out_dir"),
    ("run-out-dir-under-file", ["run", "spec.toml", "--set", "out_dir=afile/runs"], "out_dir"),
    ("run-out-file", ["run", "spec.toml", "--out", "afile"], "--out"),
    ("run-out-name-too-long", ["run", "spec.toml", "--out", "x" * 10_000], "--out"),
    # kinds
    ("kinds-unknown", ["kinds", "nocategory"], "nocategory"),
    ("kinds-unknown-json", ["kinds", "--json", "nope"], "nope"),
    ("kinds-extra-arg", ["kinds", "noise", "nokind", "extra"], "extra"),
    # plan
    ("plan-compute-word", ["plan", "--compute", "abc"], "--compute"),
    ("plan-compute-negative", ["plan", "--compute", "-1"], "--compute"),
    ("plan-compute-inf", ["plan", "--compute", "inf"], "--compute"),
    ("plan-compute-nan", ["plan", "--compute", "nan"], "--compute"),
    ("plan-no-compute", ["plan"], "--compute"),
    ("plan-seq-len-0", ["plan", "--compute", "1e22", "--seq-len", "0"], "--seq-len"),
    ("plan-vocab-negative", ["plan", "--compute", "1e22", "--vocab-size", "-1"], "--vocab-size"),
    ("plan-noise-unknown", ["plan", "--compute", "1e22", "--noise", "zzz"], "--noise"),
    ("plan-laws-missing", ["plan", "--compute", "1e22", "--laws", "nope.json"], "--laws"),
    ("plan-gpu-mem-word", ["plan", "--compute", "1e22", "--gpu-mem", "abc"], "--gpu-mem"),
    ("plan-base-missing", ["plan", "--compute", "1e22", "--base", "missing.toml"],
     "missing.toml"),
    ("plan-tolerance-word", ["plan", "--compute", "1e22", "--tolerance", "abc"], "--tolerance"),
    # fit
    ("fit-missing-csv", ["fit", "missing.csv", "--law", "chinchilla"], "missing.csv"),
    ("fit-no-law", ["fit", "ok.csv"], "--law"),
    ("fit-latin-csv", ["fit", "latin.csv", "--law", "powerlaw"], "latin.csv"),
    ("fit-text-values", ["fit", "text.csv", "--law", "powerlaw"], "params"),
    ("fit-negative-params", ["fit", "neg.csv", "--law", "powerlaw"], "params"),
    ("fit-empty-csv", ["fit", "empty.csv", "--law", "powerlaw"], "empty.csv"),
    ("fit-ragged-csv", ["fit", "ragged.csv", "--law", "powerlaw"], "ragged.csv:2"),
    ("fit-unknown-law", ["fit", "ok.csv", "--law", "nope"], "nope"),
    ("fit-drop-highest-negative", ["fit", "ok.csv", "--law", "powerlaw", "--drop-highest", "-1"],
     "--drop-highest"),
    ("fit-drop-highest-all", ["fit", "ok.csv", "--law", "powerlaw", "--drop-highest", "99"],
     "--drop-highest"),
    ("fit-drop-highest-word", ["fit", "ok.csv", "--law", "powerlaw", "--drop-highest", "x"],
     "--drop-highest"),
    ("fit-bootstrap-negative", ["fit", "ok.csv", "--law", "chinchilla", "--bootstrap", "-5"],
     "bootstrap"),
    ("fit-seed-2**70", ["fit", "ok.csv", "--law", "chinchilla", "--seed", str(2 ** 70)], "seed"),
    ("fit-option-unclosed", ["fit", "ok.csv", "--law", "chinchilla", "-o", "grid=[1,"], "grid"),
    ("fit-option-unknown", ["fit", "ok.csv", "--law", "chinchilla", "-o", "nokey=1"], "nokey"),
    ("fit-option-inf", ["fit", "ok.csv", "--law", "chinchilla", "-o", "delta=inf"], "delta"),
    ("fit-option-not-kv", ["fit", "ok.csv", "--law", "chinchilla", "-o", "delta"], "delta"),
    ("fit-by-unknown", ["fit", "ok.csv", "--law", "powerlaw", "--by", "nocol"], "nocol"),
    ("fit-columns-no-value", ["fit", "ok.csv", "--law", "powerlaw", "--columns", "params"],
     "--columns"),
    ("fit-columns-unknown", ["fit", "ok.csv", "--law", "powerlaw", "--columns",
                             "params=nothere"], "nothere"),
    ("fit-bad-jsonl", ["fit", "badjson", "--law", "curves"], "metrics.jsonl:1"),
    ("fit-bad-spec", ["fit", "badspec", "--law", "curves"], "spec.toml"),
    ("fit-bad-record", ["fit", "badrecord", "--law", "curves"], "metrics.jsonl:1"),
    ("fit-bad-db", ["fit", "bad.db", "--law", "curves"], "bad.db"),
    # sweep
    ("sweep-missing", ["sweep", "missing.toml", "--dry-run"], "missing.toml"),
    ("sweep-not-a-sweep", ["sweep", "spec.toml", "--dry-run"], "base_spec"),
    ("sweep-jobs-negative", ["sweep", "sweeps/s.toml", "--dry-run", "--jobs", "-1"],
     "executor.jobs"),
    ("sweep-jobs-zero", ["sweep", "sweeps/s.toml", "--dry-run", "--jobs", "0"], "executor.jobs"),
    ("sweep-executor-unknown", ["sweep", "sweeps/s.toml", "--dry-run", "--executor", "nope"],
     "executor.kind"),
    ("sweep-set-word", ["sweep", "sweeps/s.toml", "--dry-run", "--set", "executor.jobs=ten"],
     "executor.jobs"),
    ("sweep-axes-int", ["sweep", "sweeps/s.toml", "--dry-run", "--set", "axes=3"], "axes"),
    ("sweep-axis-scalar", ["sweep", "sweeps/s.toml", "--dry-run", "--set",
                           "axes.optimizer.lr=3"], "axes.optimizer.lr"),
    ("sweep-member-steps-0", ["sweep", "sweeps/s.toml", "--dry-run", "--set",
                              "axes.train.steps=[0]"], "train.steps"),
    ("sweep-set-member-word", ["sweep", "sweeps/s.toml", "--dry-run", "--set",
                               "set.train.steps=ten"], "train.steps"),
    ("sweep-set-member-inf", ["sweep", "sweeps/s.toml", "--dry-run", "--set",
                              "set.optimizer.eps=inf"], "optimizer.eps"),
    ("sweep-set-int", ["sweep", "sweeps/s.toml", "--dry-run", "--set", "set=3"], "set"),
    ("sweep-lr-grid-int", ["sweep", "sweeps/s.toml", "--dry-run", "--set",
                           "lr_grid_by_batch=3"], "lr_grid_by_batch"),
    ("sweep-base-spec-int", ["sweep", "sweeps/s.toml", "--dry-run", "--set", "base_spec=3"],
     "base_spec"),
    ("sweep-name-int", ["sweep", "sweeps/s.toml", "--dry-run", "--set", "name=5"], "name"),
    # no command at all, an unknown one
    ("unknown-command", ["frobnicate"], "frobnicate"),
]
_CLI_PARAMS, _CLI_IDS = _split(CLI_CASES)


@pytest.mark.parametrize("argv, key", _CLI_PARAMS, ids=_CLI_IDS)
def test_bad_cli_arguments(tmp_path, monkeypatch, capsys, argv, key):
    monkeypatch.chdir(tmp_path)
    workspace(tmp_path)
    before = snapshot(tmp_path)
    code, err = call(argv, capsys)
    check(code, err, key)
    assert snapshot(tmp_path) == before


# -- (4) sample / eval / export of one tiny trained run ------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 4-step run; first, bad `run` commands in the same workspace, which must leave
    nothing behind that stops the corrected command."""
    root = tmp_path_factory.mktemp("trained")
    (root / "spec.toml").write_text(BASE)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        for bad in (["--set", "train.steps=ten"], ["--set", f"data.train_tokens={2 ** 62}"],
                    ["--set", "train.device=banana"], ["--set", f"seed={2 ** 70}"]):
            before = snapshot(root)
            try:
                code = cli.main(["run", "spec.toml", "--out", "run", "--quiet", *bad])
            except SystemExit as exc:
                code = exc.code
            assert code == 2, bad
            assert snapshot(root) == before, bad
        assert cli.main(["run", "spec.toml", "--out", "run", "--quiet"]) == 0
    finally:
        os.chdir(cwd)
    (root / "afile").write_text("not a directory\n")
    (root / "empty").mkdir()
    vocab = 258  # the bytes tokenizer: 256 bytes, EOS, mask
    for name, ids, meta in (
            ("ids_too_big.bin", np.array([1, 2, 9999, 3], np.uint16), {"vocab_size": vocab}),
            ("vocab_too_big.bin", np.array([1, 2], np.uint16), {"vocab_size": 70000}),
            ("empty.bin", np.array([], np.uint16), {"vocab_size": vocab}),
            ("odd.bin", None, {"vocab_size": vocab}),
            ("no_sidecar.bin", np.array([1, 2], np.uint16), None)):
        path = root / name
        if ids is None:
            path.write_bytes(b"\x01\x00\x02")  # 3 bytes: not whole uint16 ids
        else:
            path.write_bytes(ids.astype("<u2").tobytes())
        if meta is not None:
            (root / f"{name}.json").write_text(json.dumps(
                {"format": "difflaws-tokens", "version": 1, "dtype": "uint16",
                 "n_tokens": 0 if ids is None else len(ids), "eos_id": 256,
                 "tokenizer": "bytes", **meta}))
    (root / "bad.jsonl").write_text("{not json}\n")
    return root


RUN_CASES = [
    ("sample-n-0", ["sample", "{run}", "--n", "0"], "--n"),
    ("sample-n-negative", ["sample", "{run}", "--n", "-1"], "--n"),
    ("sample-n-huge", ["sample", "{run}", "--n", "100000"], "--n"),
    ("sample-n-word", ["sample", "{run}", "--n", "abc"], "--n"),
    ("sample-steps-0", ["sample", "{run}", "--steps", "0"], "--steps"),
    ("sample-steps-huge", ["sample", "{run}", "--steps", str(10 ** 9)], "--steps"),
    ("sample-length-0", ["sample", "{run}", "--length", "0"], "--length"),
    ("sample-length-100000", ["sample", "{run}", "--length", "100000"], "--length"),
    ("sample-seed-negative", ["sample", "{run}", "--seed", "-1"], "--seed"),
    ("sample-seed-2**70", ["sample", "{run}", "--seed", str(2 ** 70)], "--seed"),
    ("sample-device-banana", ["sample", "{run}", "--device", "banana"], "--device"),
    ("sample-sampler-unknown", ["sample", "{run}", "--sampler", "nope"], "kind"),
    ("sample-option-negative", ["sample", "{run}", "--sampler", "adaptive", "--option",
                                "temperature=-1.0"], "temperature"),
    ("sample-option-out-of-range", ["sample", "{run}", "--option", "top_p=1.5"], "top_p"),
    ("sample-option-unknown", ["sample", "{run}", "--option", "nokey=1"], "nokey"),
    ("sample-option-unclosed", ["sample", "{run}", "--option", "temperature=["], "temperature"),
    ("sample-option-not-kv", ["sample", "{run}", "--option", "temperature"], "--option"),
    ("sample-prompt-too-long", ["sample", "{run}", "--n", "1", "--steps", "1", "--length", "4",
                                "--prompt", "a long prompt"], "--prompt"),
    ("sample-run-missing", ["sample", "{root}/nope"], "nope"),
    ("sample-run-empty-dir", ["sample", "{root}/empty"], "empty"),
    ("eval-batch-size-negative", ["eval", "{run}", "--batch-size", "-1"], "--batch-size"),
    ("eval-batch-size-0", ["eval", "{run}", "--batch-size", "0"], "--batch-size"),
    ("eval-batches-0", ["eval", "{run}", "--batches", "0"], "--batches"),
    ("eval-batches-huge", ["eval", "{run}", "--batches", str(10 ** 9)], "--batches"),
    ("eval-samples-0", ["eval", "{run}", "--samples", "0"], "--samples"),
    ("eval-device-banana", ["eval", "{run}", "--device", "banana"], "--device"),
    ("eval-ids-above-vocab", ["eval", "{run}", "--data", "{root}/ids_too_big.bin"],
     "ids_too_big.bin"),
    ("eval-vocab-above-run", ["eval", "{run}", "--data", "{root}/vocab_too_big.bin"],
     "vocab_too_big.bin"),
    ("eval-empty-bin", ["eval", "{run}", "--data", "{root}/empty.bin"], "empty.bin"),
    ("eval-odd-bin", ["eval", "{run}", "--data", "{root}/odd.bin"], "odd.bin"),
    ("eval-no-sidecar", ["eval", "{run}", "--data", "{root}/no_sidecar.bin"], "no_sidecar.bin"),
    ("eval-missing-text", ["eval", "{run}", "--data", "{root}/missing.txt"], "--data"),
    ("eval-bad-jsonl", ["eval", "{run}", "--data", "{root}/bad.jsonl"], "--data"),
    ("eval-run-missing", ["eval", "{root}/nope"], "nope"),
    ("export-out-under-file", ["export", "{run}", "--out", "{root}/afile/model.safetensors"],
     "--out"),
    ("export-out-directory", ["export", "{run}", "--out", "{root}/empty"], "--out"),
    ("export-out-missing-dir", ["export", "{run}", "--out", "{root}/nodir/m.safetensors"],
     "--out"),
    ("export-out-too-long", ["export", "{run}", "--out", "{root}/" + "m" * 10_000], "--out"),
    ("export-run-missing", ["export", "{root}/nope"], "nope"),
    ("export-run-is-file", ["export", "{root}/afile"], "afile"),
]
_RUN_PARAMS, _RUN_IDS = _split(RUN_CASES)


@pytest.mark.parametrize("argv, key", _RUN_PARAMS, ids=_RUN_IDS)
def test_bad_run_dir_arguments(trained, monkeypatch, capsys, argv, key):
    monkeypatch.chdir(trained)
    argv = [a.format(run=trained / "run", root=trained) for a in argv]
    before = snapshot(trained)
    code, err = call(argv, capsys)
    check(code, err, key)
    assert snapshot(trained) == before


def test_good_commands_still_run(trained, monkeypatch, capsys):
    """After every bad input above, the corrected commands work."""
    monkeypatch.chdir(trained)
    run = trained / "run"
    assert call(["sample", run, "--n", "1", "--steps", "2", "--length", "8"], capsys)[0] == 0
    assert call(["eval", run, "--batches", "1", "--samples", "1"], capsys)[0] == 0
    out = trained / "model.safetensors"
    assert call(["export", run, "--out", out], capsys)[0] == 0 and out.is_file()
    out.unlink()


# -- (5) a sample through a real subprocess: no traceback reaches a user -------------------------
SUBPROCESS = [
    ["validate", "spec.toml", "--set", "train.steps=ten"],
    ["validate", "spec.toml", "--set", "train.device=banana"],
    ["validate", "spec.toml", "--set", "required_plugins='x>=1'"],
    ["validate", "spec.toml", "--set", f"train.steps={nested(5000)}"],
    ["validate", "nested.toml"],
    ["run", "spec.toml", "--set", "data.n_symbols=200", "--set", "data.order=4"],
    ["fit", "latin.csv", "--law", "powerlaw"],
    ["sweep", "sweeps/s.toml", "--dry-run", "--jobs", "-1"],
]


def test_no_traceback_reaches_a_user(tmp_path, trained):
    import subprocess
    import sys

    workspace(tmp_path)
    (tmp_path / "nested.toml").write_text(f"x = {nested(5000)}\n{BASE}")
    cases = [*SUBPROCESS,
             ["sample", trained / "run", "--length", "100000"],
             ["export", trained / "run", "--out", trained / "afile" / "m.safetensors"]]
    before = snapshot(tmp_path, trained)
    env = {**os.environ, "DIFFLAWS_LOAD_PLUGINS": ""}
    procs = [subprocess.Popen([sys.executable, "-m", "difflaws", *map(str, argv)], cwd=tmp_path,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for argv in cases]
    for argv, proc in zip(cases, procs):
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 2, (argv, err)
        assert "Traceback" not in err and err.startswith("difflaws "), (argv, err)
        assert HINT.search(err), (argv, err)
    assert snapshot(tmp_path, trained) == before


# -- (6) the helpers ----------------------------------------------------------------------------
def test_check_writable_dir(tmp_path):
    from difflaws.paths import check_writable_dir

    (tmp_path / "f").write_text("x")
    assert check_writable_dir(tmp_path / "new" / "deeper", "out_dir") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()  # nothing is created
    for bad, words in ((tmp_path / "f", "is a file"), (tmp_path / "f" / "sub", "is a file"),
                       (tmp_path / ("n" * 10_000), "out_dir"), ("a\0b", "out_dir")):
        with pytest.raises(UserError, match=words) as info:
            check_writable_dir(bad, "out_dir")
        message = str(info.value)
        assert message.startswith("out_dir: ") and "choose another out_dir" in message
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(UserError, match="not writable"):
            check_writable_dir(locked / "runs", "out_dir")


def test_check_writable_file(tmp_path):
    from difflaws.paths import check_writable_file

    (tmp_path / "f").write_text("x")
    assert check_writable_file(tmp_path / "m.safetensors", "--out") == tmp_path / "m.safetensors"
    for bad, words in ((tmp_path, "is a directory"), (tmp_path / "f" / "m", "is a file"),
                       (tmp_path / "no" / "m", "does not exist")):
        with pytest.raises(UserError, match=words):
            check_writable_file(bad, "--out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_battery_size():
    total = (len(SPEC_CASES) + len(SET_CASES) + len(CLI_CASES) + len(RUN_CASES)
             + len(SUBPROCESS) + 2 + 3 + 1 + 4 + 3)
    assert total >= 100, total
