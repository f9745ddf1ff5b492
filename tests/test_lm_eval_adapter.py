"""The lm-eval-harness adapter: a local multiple-choice task end to end through lm-eval (the
`difflaws lm-eval` command and the registered model name), exact log-likelihoods of an
autoregressive run against log-softmax sums, a diffusion run's Monte Carlo ELBO against an
independent high-sample estimate, rolling windows and stop sequences.  No network."""

from __future__ import annotations

import json
import math
import os
import sqlite3

import pytest
import torch

for _name in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(_name, "1")  # before lm-eval pulls in datasets, which reads them once

lm_eval = pytest.importorskip("lm_eval")

from lm_eval.api.instance import Instance  # noqa: E402

from difflaws import cli  # noqa: E402
from difflaws.integrations.lm_eval import DifflawsLM, cut_at_stops  # noqa: E402
from eval_helpers import text_runs  # noqa: E402

N_DOCS = 10
TASK = """task: difflaws_tiny_mc
dataset_path: json
dataset_kwargs:
  data_files:
    test: {docs}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{question}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: "{{{{label}}}}"
metric_list:
  - metric: acc
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return text_runs(tmp_path_factory.mktemp("lme"))


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("task")
    docs = [{"question": f"def f{i}(x):\n    return x *", "label": i % 3,
             "choices": [f" {i} + 1\n", f" {i} - 7\n", f" {i} / 3\n"]} for i in range(N_DOCS)]
    (root / "docs.json").write_text(json.dumps(docs))
    (root / "tiny_mc.yaml").write_text(TASK.format(docs=root / "docs.json"))
    return root


def request(kind, *args):
    return Instance(kind, {}, tuple(args), 0)


@pytest.mark.slow  # lm-eval and datasets take ~5 s to import, the two evaluations as long
def test_multiple_choice_task_end_to_end(runs, task_dir, capsys):
    # the command, on the autoregressive run: accuracy printed and recorded in the DB
    code = cli.main(["lm-eval", str(runs["ar"]), "--tasks", "difflaws_tiny_mc", "--include-path",
                     str(task_dir), "--no-builtin-tasks", "--device", "cpu", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    out = json.loads(captured.out.strip().splitlines()[-1])
    acc = out["results"]["difflaws_tiny_mc"]["acc,none"]
    assert isinstance(acc, float) and 0.0 <= acc <= 1.0 and out["recorded"]
    db = sqlite3.connect(runs["ar"].parent / "results.sqlite")
    value, n = db.execute("SELECT value, n FROM evaluations WHERE run_id='ar' AND "
                          "metric='lm-eval/difflaws_tiny_mc/acc'").fetchone()
    assert value == acc and n == N_DOCS
    # lm-eval's own entry point, by the registered name, on the diffusion run
    from lm_eval.tasks import TaskManager

    results = lm_eval.simple_evaluate(
        model="difflaws", model_args=f"run_dir={runs['masked']},mc_samples=4,device=cpu",
        tasks=["difflaws_tiny_mc"], log_samples=False, bootstrap_iters=0,
        task_manager=TaskManager(include_path=str(task_dir), include_defaults=False))
    acc = results["results"]["difflaws_tiny_mc"]["acc,none"]
    assert isinstance(acc, float) and 0.0 <= acc <= 1.0


def exact_log_prob(model, context, targets):
    """Σ log p(target_j | context, targets_<j) from one forward pass per target."""
    total = 0.0
    ids = list(context)
    with torch.no_grad():
        for t in targets:
            logits = model(torch.tensor([ids]), None)[0, -1]
            total += float(torch.log_softmax(logits.double(), -1)[t])
            ids.append(t)
    return total


def test_ar_loglikelihood_is_the_sum_of_log_softmax(runs):
    lm = DifflawsLM(run_dir=str(runs["ar"]), device="cpu")
    tok, model = lm.run.tokenizer, lm.run.model
    context, continuation = "def f3(x):\n    return x", " * 3 + 1"
    (got, greedy), (empty, _) = lm.loglikelihood([
        request("loglikelihood", context, continuation),
        request("loglikelihood", "", continuation)])
    cont = tok.encode(continuation)
    # float32 logits: batching and padding reorder sums, ~1e-7 relative
    assert got == pytest.approx(exact_log_prob(model, tok.encode(context), cont), rel=1e-6)
    # an empty context is the run's EOS, what every document follows
    assert empty == pytest.approx(exact_log_prob(model, [tok.eos_id], cont), rel=1e-6)
    assert isinstance(greedy, bool)


def test_ar_rolling_scores_each_token_once_in_windows(runs):
    lm = DifflawsLM(run_dir=str(runs["ar"]), device="cpu")
    tok, model = lm.run.tokenizer, lm.run.model
    text = "".join(f"def f{i}(x): return {i}\n" for i in range(4))  # 80 bytes
    ids = [tok.eos_id, *tok.encode(text)]
    n, W = len(ids), lm.run.spec.train.seq_len
    assert 2 * W + 1 < n < 3 * W + 1  # three windows of W = 32
    # lm-eval's scheme: targets 1..W see everything before them, W+1..2W see from W on,
    # the rest sees the last W tokens before the end
    def start(t):
        return 0 if t <= W else W if t <= 2 * W else n - 1 - W
    expected = 0.0
    with torch.no_grad():
        for t in range(1, n):
            logits = model(torch.tensor([ids[start(t):t]]), None)[0, -1]
            expected += float(torch.log_softmax(logits.double(), -1)[ids[t]])
    (got,) = lm.loglikelihood_rolling([request("loglikelihood_rolling", text)])
    assert got == pytest.approx(expected, rel=1e-6)


def masked_reference(model, process, x, prefix, draws, seed):
    """An independent estimate of the masked-diffusion NELBO of x[prefix:] given x[:prefix]:
    for masked noise the integrand is σ(λ)·(−log x̂ on masked tokens), so with α = σ(λ),
    NELBO = ∫ E[Σ_masked −log x̂] / (1 − α) dα over [σ(λ_min), σ(λ_max)]; α is drawn
    uniformly there (not from the run's schedule) and each target masked w.p. 1 − α."""
    gen = torch.Generator().manual_seed(seed)
    a0, a1 = (torch.sigmoid(torch.tensor(v, dtype=torch.float64)).item()
              for v in (process.log_snr_min, process.log_snr_max))
    L = len(x)
    alpha = a0 + (a1 - a0) * torch.rand(draws, generator=gen, dtype=torch.float64)
    targets = torch.arange(L) >= prefix
    masked = (torch.rand(draws, L, generator=gen, dtype=torch.float64) < 1 - alpha[:, None]) \
        & targets
    xs = torch.tensor(x)[None].expand(draws, L)
    z = torch.where(masked, torch.full_like(xs, process.mask_id), xs)
    lam = torch.where(targets, torch.logit(alpha)[:, None].expand(draws, L),
                      torch.tensor(process.log_snr_max, dtype=torch.float64)).float()
    with torch.no_grad():
        logits = model(z, lam, prefix_len=torch.full((draws,), prefix)).double()
    logits[..., process.mask_id] = -math.inf
    ce = -torch.log_softmax(logits, -1).gather(-1, xs[..., None]).squeeze(-1)
    e = (a1 - a0) * torch.where(masked, ce, 0.0).sum(1) / (1 - alpha)
    return float(e.mean()), float(e.std() / math.sqrt(draws))


def test_diffusion_loglikelihood_is_the_mc_elbo_within_its_stderr(runs):
    lm = DifflawsLM(run_dir=str(runs["masked"]), mc_samples=256, batch_size=64, device="cpu",
                    seed=5)
    tok, run = lm.run.tokenizer, lm.run
    context, continuation = "def f2(x):\n    return x", " * 2 + 1"
    ctx, cont = lm.encode_pair(context, continuation)
    assert ctx == tok.encode(context) and cont == tok.encode(continuation)
    (score,) = lm.likelihood.continuations([(ctx, cont)])
    ref, ref_se = masked_reference(run.model, run.objective.process, ctx + cont, len(ctx),
                                   draws=4096, seed=11)
    assert 0 < score.stderr < 0.2 * ref and ref_se < score.stderr
    assert abs(-score.log_prob - ref) < 4 * math.hypot(score.stderr, ref_se)
    # through lm-eval's request: a fresh draw of the same estimator
    (got, greedy), = lm.loglikelihood([request("loglikelihood", context, continuation)])
    assert abs(-got - ref) < 4 * math.hypot(score.stderr, ref_se) and isinstance(greedy, bool)


@pytest.mark.parametrize("name", ["ar", "masked"])
def test_generate_until_honours_stop_sequences_and_length(runs, name):
    lm = DifflawsLM(run_dir=str(runs[name]), steps=4, device="cpu")
    (text, longer) = lm.generate_until([
        request("generate_until", "def f1(x):\n", {"until": ["\n"], "max_gen_toks": 12}),
        request("generate_until", "def f1(x):\n", {"until": [], "max_gen_toks": 8})])
    assert "\n" not in text and len(text) <= 12  # one byte token: at most one character
    assert isinstance(longer, str) and len(longer) <= 8
    assert cut_at_stops("a;b.c;d", [".", ";"]) == "a" and cut_at_stops("abc", ["x"]) == "abc"


def test_bad_lm_eval_inputs_exit_2(runs, tmp_path, capsys):
    assert cli.main(["lm-eval", str(tmp_path), "--tasks", "x"]) == 2
    assert "not a run directory" in capsys.readouterr().err
    assert cli.main(["lm-eval", str(runs["ar"]), "--tasks", "no_such_task", "--include-path",
                     str(tmp_path), "--no-builtin-tasks"]) == 2
    assert "unknown task 'no_such_task'" in capsys.readouterr().err
    assert cli.main(["lm-eval", str(runs["ar"]), "--tasks", "x", "--mc-samples", "0"]) == 2
    assert "--mc-samples 0" in capsys.readouterr().err
    for flags, message in ((["--seed", str(2**32)], "--seed 4294967296"),
                           (["--num-fewshot", "-1"], "--num-fewshot -1"),
                           (["--output", str(tmp_path)], "--output"),
                           (["--tasks", " , "], "names no task")):
        args = ["lm-eval", str(runs["ar"]), "--tasks", "x", *flags]
        assert cli.main(args) == 2
        assert message in capsys.readouterr().err


def test_bad_model_arguments_are_user_errors(runs):
    from difflaws.errors import UserError

    with pytest.raises(UserError, match="mc_samples='many' is not a whole number"):
        DifflawsLM(run_dir=str(runs["masked"]), mc_samples="many", device="cpu")
    with pytest.raises(UserError, match="steps=0; pass at least 1"):
        DifflawsLM(run_dir=str(runs["masked"]), steps="0", device="cpu")
    # lm-eval's "auto" batch sizes leave the run's evaluation batch
    lm = DifflawsLM(run_dir=str(runs["ar"]), batch_size="auto:4", device="cpu")
    assert lm.likelihood.scorer.batch_size == lm.run.spec.train.batch_size
