"""`difflaws eval`'s metrics: sample entropy and repetition against hand-computed values, NFE
by counting, generative perplexity under a difflaws autoregressive judge and a Hugging Face
one (each against an independent log-softmax computation), zero-shot wording, the results
DB's evaluations table, and the bad inputs that exit 2."""

from __future__ import annotations

import json
import math
import sqlite3

import pytest
import torch

from difflaws import cli
from difflaws.metrics.generation import Generation, generate, sample_metrics
from difflaws.metrics.sample_stats import repetition_rate, unigram_entropy
from difflaws.metrics.windows import blocks
from eval_helpers import text_runs

LN2 = math.log(2)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return text_runs(tmp_path_factory.mktemp("evm"), bpe=True)


def eval_json(capsys, *args):
    code = cli.main(["eval", *map(str, args), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


# -- sample statistics on fixed rows -------------------------------------------------------

def test_entropy_and_repetition_match_hand_computed_values():
    # [1, 1, 2, 3]: shares 1/2, 1/4, 1/4 -> H = ½ln2 + 2·¼ln4 = 1.5 ln 2
    assert unigram_entropy([1, 1, 2, 3]) == pytest.approx(1.5 * LN2, abs=1e-12)
    assert unigram_entropy([7] * 9) == 0.0
    assert repetition_rate([1, 1, 2, 3], 1) == pytest.approx(1 / 4)  # 3 distinct of 4
    assert repetition_rate([1, 1, 2, 3], 2) == 0.0  # (1,1) (1,2) (2,3): all new
    alternating = [5, 6, 5, 6, 5, 6]
    assert unigram_entropy(alternating) == pytest.approx(LN2, abs=1e-12)
    # n-grams: 6, 5, 4, 3 of them, always 2 distinct
    for n, expected in ((1, 1 - 2 / 6), (2, 1 - 2 / 5), (3, 1 - 2 / 4), (4, 1 - 2 / 3)):
        assert repetition_rate(alternating, n) == pytest.approx(expected, abs=1e-12)
    assert math.isnan(repetition_rate([1, 2, 3], 4))  # no 4-gram in 3 tokens


def test_sample_metrics_average_per_sample_values():
    rows = torch.tensor([[1, 1, 2, 3, 4, 5], [5, 6, 5, 6, 5, 6]])
    gen = Generation(rows, nfe=[3, 5], seconds=2.0, settings={"n": 2})
    by = {m.name: m for m in sample_metrics(gen)}
    h = [unigram_entropy(r) for r in rows.tolist()]
    # shares 2/6 and 1/6 ×4: H = −(1/3)ln(1/3) − (4/6)ln(1/6)
    assert h[0] == pytest.approx(math.log(3) / 3 + 2 / 3 * math.log(6), abs=1e-12)
    assert by["sample_entropy"].value == pytest.approx((h[0] + LN2) / 2, abs=1e-12)
    assert by["sample_entropy"].stderr == pytest.approx(abs(h[0] - LN2) / 2, abs=1e-12)
    assert by["repetition_2"].value == pytest.approx((0 + 0.6) / 2)
    assert by["nfe"].value == 4 and by["nfe"].stderr == pytest.approx(1.0)
    assert by["seconds_per_sample"].value == 1.0 and by["seconds_per_sample"].n == 2


# -- NFE --------------------------------------------------------------------------------

class ThreeCalls:
    """A stand-in sampler: three denoiser calls, and it asks for the backbone's cache."""

    def sample(self, denoiser, process, batch_size, seq_len, steps, prompt=None,
               generator=None, device=None):
        assert callable(denoiser.new_cache)  # the wrapper hands on the model's capabilities
        z = torch.zeros(batch_size, seq_len, dtype=torch.long)
        for _ in range(3):
            denoiser(z, None)
        return z


def test_nfe_counts_the_denoiser_calls_of_each_batch(runs):
    from difflaws.train.restore import load_trained

    run = load_trained(runs["ar"], "cpu")
    gen = generate(ThreeCalls(), run.model, run.process, n=5, length=4, steps=1, batch_size=2,
                   seed=0, device="cpu")
    assert gen.nfe == [3, 3, 3] and gen.tokens.shape == (5, 4)


def test_nfe_of_ancestral_and_next_token_sampling(runs, capsys):
    # ancestral: one call per point of the steps + 1 point λ grid (its last step goes to λ = ∞)
    args = (runs["masked"], "--batches", "1", "--generate", "3", "--steps", "5", "--no-record")
    out = eval_json(capsys, *args, "--option", "skip_unchanged=false")
    assert out["metrics"]["nfe"]["value"] == 5 + 1
    assert out["metrics"]["nfe"]["settings"]["sampler"]["kind"] == "ancestral"
    # skipping reuses the logits of a step that changed nothing: never more calls
    assert eval_json(capsys, *args)["metrics"]["nfe"]["value"] <= 5 + 1
    # next-token with a KV cache: one pass per generated token, whatever --steps says
    out = eval_json(capsys, runs["ar"], "--batches", "1", "--generate", "2", "--length", "9",
                    "--no-record")
    assert out["metrics"]["nfe"]["value"] == 9
    assert out["metrics"]["seconds_per_sample"]["value"] > 0


def test_the_text_report_names_every_sample_metric(runs, capsys):
    assert cli.main(["eval", str(runs["masked"]), "--batches", "1", "--generate", "2",
                     "--steps", "2", "--no-record"]) == 0
    out = capsys.readouterr().out
    assert "samples: 2 × 32 tokens, 2 steps, sampler ancestral" in out
    assert "repetition of 1-4-grams" in out and "NFE" in out and "s per sample" in out


# -- generative perplexity ------------------------------------------------------------------

def test_gen_ppl_under_an_ar_run_is_exp_of_its_mean_nll(runs, capsys):
    from difflaws.metrics.gen_ppl import generative_perplexity
    from difflaws.metrics.judge import open_judge
    from difflaws.train.restore import load_trained

    out = eval_json(capsys, runs["masked"], "--batches", "1", "--generate", "5", "--steps", "6",
                    "--batch-size", "4", "--seed", "3", "--judge", runs["ar"], "--no-record")
    source = load_trained(runs["masked"], "cpu")
    sampler = source.spec.sampler.build()
    gen = generate(sampler, source.model, source.process, 5, 32, 6, 4, 3, "cpu",
                   reads_log_snr=source.spec.backbone.reads_log_snr())  # as eval does
    judge = load_trained(runs["ar"], "cpu")
    eos = judge.tokenizer.eos_id
    nll, count = 0.0, 0
    with torch.no_grad():
        for row in gen.tokens:
            inputs = torch.cat([torch.tensor([eos]), row[:-1]])[None]  # EOS, then the sample
            logp = torch.log_softmax(judge.model(inputs, None).double(), -1)[0]
            nll -= float(logp.gather(-1, row[:, None]).sum())
            count += len(row)
    expected = math.exp(nll / count)
    assert out["metrics"]["gen_ppl"]["value"] == pytest.approx(expected, rel=1e-9)
    assert out["metrics"]["gen_nll"]["n"] == count == 5 * 32
    assert out["metrics"]["gen_nll"]["stderr"] > 0
    direct = {m.name: m for m in generative_perplexity(
        open_judge(str(runs["ar"]), source.tokenizer, "cpu", 4), gen.tokens)}
    assert direct["gen_ppl"].value == pytest.approx(expected, rel=1e-9)


def test_windows_score_every_target_once_with_the_reach_respected():
    for n, first, reach, min_context in [(81, 1, 33, 1), (40, 0, 8, 0), (25, 20, 33, 1),
                                         (100, 37, 16, 1), (5, 5, 4, 1)]:
        parts = blocks(n, first, reach, min_context)
        targets = [t for _, a, b in parts for t in range(a, b)]
        assert targets == list(range(max(first, min_context), n))
        for lo, a, b in parts:
            assert b - lo <= reach and a - lo >= min_context
        if parts:  # the last block sees as much context as fits
            lo, a, b = parts[-1]
            assert lo == max(0, b - reach)


def test_hf_judge_retokenises_documents_and_scores_them(runs, tmp_path, capsys, monkeypatch):
    transformers = pytest.importorskip("transformers")
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers

    from difflaws.metrics.generation import generate
    from difflaws.train.restore import load_trained

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    chars = [chr(c) for c in range(32, 127)] + ["\n", "\t"]
    vocab = {"<|endoftext|>": 0, "<unk>": 1, **{c: i + 2 for i, c in enumerate(chars)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), "isolated")  # one token per char
    hf_tok = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>",
                                                  eos_token="<|endoftext|>", unk_token="<unk>")
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=len(vocab), n_positions=64, n_embd=16,
                                     n_layer=1, n_head=2)
    judge_dir = tmp_path / "tiny-gpt2"
    transformers.GPT2LMHeadModel(config).save_pretrained(judge_dir)
    hf_tok.save_pretrained(judge_dir)

    out = eval_json(capsys, runs["ar"], "--batches", "1", "--generate", "3", "--seed", "1",
                    "--judge", judge_dir, "--no-record")
    source = load_trained(runs["ar"], "cpu")
    gen = generate(source.spec.sampler.build(), source.model, source.process, 3, 32, 128, 3, 1,
                   "cpu")
    model = transformers.AutoModelForCausalLM.from_pretrained(judge_dir).eval()
    eos = source.tokenizer.eos_id
    nll, count = 0.0, 0
    with torch.no_grad():
        for row in gen.tokens.tolist():
            docs, doc = [], []
            for t in row + [eos]:  # cut at the run's EOS into documents
                if t == eos:
                    docs.append(doc)
                    doc = []
                else:
                    doc.append(t)
            for doc in filter(None, docs):
                # one judge id per character of the decoded text, after its BOS
                ids = [0] + [vocab.get(c, 1) for c in source.tokenizer.decode(doc)]
                logp = torch.log_softmax(model(torch.tensor([ids])).logits.double(), -1)[0]
                nll -= float(logp[:-1].gather(-1, torch.tensor(ids[1:])[:, None]).sum())
                count += len(ids) - 1
    assert count > 0
    assert out["metrics"]["gen_nll"]["n"] == count
    assert out["metrics"]["gen_ppl"]["value"] == pytest.approx(math.exp(nll / count), rel=1e-6)
    assert out["metrics"]["gen_ppl"]["settings"]["window"] == 64


# -- zero-shot, the DB ----------------------------------------------------------------------

def test_zero_shot_report_says_bound_or_exact(runs, tmp_path, capsys):
    held = tmp_path / "held.txt"
    held.write_text("def g(x):\n    return x * 2 + 1\n" * 8)
    assert cli.main(["eval", str(runs["masked"]), "--data", str(held), "--batches", "1",
                     "--samples", "2", "--no-record"]) == 0
    assert "zero-shot NELBO (a bound on the NLL)" in capsys.readouterr().out
    assert cli.main(["eval", str(runs["ar"]), "--data", str(held), "--batches", "1",
                     "--no-record"]) == 0
    text = capsys.readouterr().out
    assert "zero-shot NLL (exact)" in text and "perplexity = " in text
    out = eval_json(capsys, runs["ar"], "--batches", "1", "--no-record")
    assert out["protocol"] == "validation" and "val_nelbo" in out["metrics"]


def test_evaluations_are_rows_of_the_results_db(runs, capsys):
    out = eval_json(capsys, runs["masked"], "--batches", "1", "--samples", "2", "--generate",
                    "2", "--steps", "3", "--judge", runs["ar"])
    assert out["recorded"] is True
    db = sqlite3.connect(runs["masked"].parent / "results.sqlite")
    rows = db.execute("SELECT metric, value, stderr, n, step, settings FROM evaluations "
                      "WHERE run_id='masked'").fetchall()
    by = {r[0]: r for r in rows}
    assert set(out["metrics"]) <= set(by)
    for name, m in out["metrics"].items():
        _, value, stderr, n, step, settings = by[name]
        assert (value, stderr, n, step) == (m["value"], m["stderr"], m["n"], out["step"])
        assert json.loads(settings) == m["settings"]
    assert by["val_nelbo"][1] == out["nelbo"] and by["gen_ppl"][2] is None  # NaN → NULL
    before = db.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0]
    eval_json(capsys, runs["masked"], "--batches", "1", "--no-record")
    assert db.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0] == before


def test_an_older_db_gains_the_evaluations_table(tmp_path):
    from difflaws.metrics.metric import Metric
    from difflaws.store.db import ResultsDB, schema

    old = schema().split("-- Figures measured after training")[0]
    assert "evaluations" not in old
    path = tmp_path / "results.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(old)
    conn.execute("INSERT INTO runs (run_id, name, run_dir, status) VALUES ('r', 'r', '.', "
                 "'finished')")
    conn.commit()
    conn.close()
    with ResultsDB(path) as db:
        db.record_evaluations("r", 7, [Metric("gen_ppl", 12.5, math.nan, 64, {"judge": "j"})])
        (row,) = db.evaluations("r")
    assert (row["metric"], row["value"], row["stderr"], row["n"], row["step"]) == \
        ("gen_ppl", 12.5, None, 64, 7)
    assert row["settings"] == {"judge": "j"} and row["created_at"]


def test_a_db_that_cannot_be_opened_leaves_the_figures_unrecorded(tmp_path, capsys,
                                                                    monkeypatch):
    import difflaws.store
    from difflaws.metrics.metric import Metric
    from difflaws.metrics.record import record

    def read_only(run_dir):
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr(difflaws.store, "workspace_db", read_only)
    assert record(tmp_path / "run", 3, [Metric("val_nelbo", 1.0)]) is False
    assert "not recorded (pass --no-record" in capsys.readouterr().err


# -- bad inputs -----------------------------------------------------------------------------

def bad(capsys, *args) -> str:
    code = cli.main(["eval", *map(str, args)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    return err


def test_bad_judges_and_flags_exit_2(runs, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    base = (runs["masked"], "--batches", "1", "--generate", "2", "--steps", "2", "--no-record")
    err = bad(capsys, *base, "--judge", tmp_path / "no-such-model")
    assert "--judge" in err and "not a difflaws run directory" in err
    err = bad(capsys, *base, "--judge", runs["ar_bpe"])
    assert "--judge" in err and "tokenizer (bpe, 300 ids)" in err and "(bytes, 258 ids)" in err
    err = bad(capsys, *base, "--judge", runs["masked"])
    assert "not an exact next-token NLL" in err
    err = bad(capsys, runs["masked"], "--judge", runs["ar"])
    assert "--judge applies to generated samples; add --generate N" in err
    assert "--generate 0: must be between 1" in bad(capsys, runs["masked"], "--generate", "0")
    assert "--steps" in bad(capsys, runs["masked"], "--generate", "1", "--steps", "0")
