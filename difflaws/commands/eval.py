"""``difflaws eval RUN_DIR``: the held-out (or zero-shot) NELBO or exact NLL with a standard
error, perplexity, bits/byte and, on request, sample metrics and generative perplexity.

Every figure is also a row of the workspace DB's ``evaluations`` table; the
definitions and protocols are in docs/evaluation.md."""

from difflaws.train.config import PROPOSALS  # no torch: the CLI's start stays quick

NAME = "eval"
HELP = "evaluate a trained run: NELBO on held-out or given data, sample metrics, gen. perplexity"

MAX_SAMPLES = 1_024
MAX_BATCHES = 1_048_576
MAX_BATCH_SIZE = 65_536
MAX_GENERATE = 65_536
MAX_JUDGE_LENGTH = 65_536  # tokens of a Hugging Face judge's context


def add_arguments(parser):
    parser.add_argument("run_dir", help="a run directory made by `difflaws run`")
    parser.add_argument("--data", nargs="+", metavar="PATH",
                        help="text files/globs or a tokens .bin to score zero-shot (default: the "
                             "run's validation split)")
    parser.add_argument("--samples", type=int, default=1,
                        help="independent noise draws per batch (the NELBO is a Monte Carlo mean)")
    parser.add_argument("--batches", type=int,
                        help="batches of sequences to score (default: train.eval_batches, then "
                             "more until train.eval_stderr_target, as at the end of a run)")
    parser.add_argument("--stderr-target", type=float, metavar="NATS",
                        help="keep scoring past --batches until the standard error is at most "
                             "this, 0: off (default: train.eval_stderr_target without --batches)")
    parser.add_argument("--max-batches", type=int,
                        help="batches to score at most (default: train.eval_max_batches)")
    parser.add_argument("--proposal", choices=PROPOSALS,
                        help="λ proposal of the NELBO (default: train.eval_proposal)")
    parser.add_argument("--batch-size", type=int,
                        help="sequences per batch, for scoring and for sampling (default: "
                             "train's)")
    gen = parser.add_argument_group("sample metrics (docs/evaluation.md §1-2)")
    gen.add_argument("--generate", type=int, metavar="N",
                     help="draw N samples and report their entropy, n-gram repetition, NFE and "
                          "seconds per sample")
    gen.add_argument("--sampler", help="sampler kind for --generate (default: the spec's)")
    gen.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                     help="a sampler setting, e.g. --option temperature=0.5")
    gen.add_argument("--steps", type=int, default=128, help="denoising steps per sample")
    gen.add_argument("--length", type=int, help="tokens per sample (default: train.seq_len)")
    gen.add_argument("--seed", type=int, default=0, help="seed of the samples")
    gen.add_argument("--judge", metavar="RUN_DIR|MODEL",
                     help="score the samples' generative perplexity under an autoregressive "
                          "difflaws run or a Hugging Face causal LM (needs transformers)")
    gen.add_argument("--judge-max-length", type=int, metavar="TOKENS",
                     help="a Hugging Face judge's context (default: its model config's)")
    gen.add_argument("--judge-batch-size", type=int, default=8,
                     help="sequences per judge forward pass (its logits are batch × length × "
                          "its vocabulary)")
    parser.add_argument("--no-record", action="store_true",
                        help="do not add the figures to the results DB's evaluations table")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def stream_for(paths, run, run_dir):
    """The token stream to score: a tokens file as is, text encoded with the run's tokenizer."""
    from difflaws.data import tokens_file
    from difflaws.data.source import encode_to_file
    from difflaws.data.text import TextSource
    from difflaws.errors import UserError
    from difflaws.train.setup import cache_dir_for

    vocab = run.tokenizer.vocab_size
    if len(paths) == 1 and paths[0].endswith(".bin"):
        return check_tokens(paths[0], vocab), float("nan")
    try:
        source = TextSource(paths, val_fraction=0.0)
        texts = list(source.texts(None))
    except UserError as exc:
        raise UserError(str(exc).replace("data.paths", "--data", 1)) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:  # unreadable files, bad .jsonl
        raise UserError(f"--data: cannot read the text ({type(exc).__name__}: {exc}); "
                        "pass UTF-8 text files, or .jsonl with a \"text\" key per line") from None
    path = source.cache_path("eval", run.tokenizer, cache_dir_for(run_dir))
    if not tokens_file.exists(path):
        encode_to_file(texts, run.tokenizer, path)
    stream = tokens_file.read(path)
    return stream, sum(len(t.encode("utf-8")) for t in texts) / max(len(stream), 1)


def check_tokens(path, vocab_size: int):
    """A tokens .bin file's ids, refused (naming the file) unless every id is below
    ``vocab_size``: an id the model has no embedding for would crash it mid-evaluation."""
    from difflaws.data import tokens_file
    from difflaws.errors import UserError

    meta = tokens_file.read_meta(path, "--data")
    if int(meta["vocab_size"]) > vocab_size:
        raise UserError(f"--data: {path} has vocab_size {meta['vocab_size']}, larger "
                        f"than the run's tokenizer ({vocab_size}); tokenize the data with the "
                        "run's tokenizer")
    stream = tokens_file.read(path, "--data")  # refuses a file cut mid-id
    if len(stream) == 0:
        raise UserError(f"--data: {path} holds no tokens; pass a non-empty tokens file")
    top = int(stream.max())
    if top >= vocab_size:
        raise UserError(f"--data: {path} holds token id {top}, but the run's vocabulary has "
                        f"{vocab_size} ids (0 to {vocab_size - 1}); tokenize the data with the "
                        "run's tokenizer")
    return stream


def check_args(args) -> None:
    """Refuse out-of-range arguments before anything is loaded."""
    from difflaws.commands.sample import MAX_STEPS, check_bounds, check_sample_args
    from difflaws.errors import UserError

    if args.stderr_target is not None and not args.stderr_target >= 0:
        raise UserError(f"--stderr-target {args.stderr_target} must be 0 (off) or a positive "
                        "number of nats, e.g. --stderr-target 0.01")
    check_bounds((("--samples", args.samples, MAX_SAMPLES),
                  ("--batches", args.batches, MAX_BATCHES),
                  ("--max-batches", args.max_batches, MAX_BATCHES),
                  ("--batch-size", args.batch_size, MAX_BATCH_SIZE),
                  ("--generate", args.generate, MAX_GENERATE), ("--steps", args.steps, MAX_STEPS),
                  ("--judge-max-length", args.judge_max_length, MAX_JUDGE_LENGTH),
                  ("--judge-batch-size", args.judge_batch_size, MAX_BATCH_SIZE)))
    check_sample_args(args)
    needs_samples = [flag for flag, given in (("--judge", args.judge), ("--sampler", args.sampler),
                                              ("--option", args.option),
                                              ("--length", args.length is not None))
                     if given]
    if needs_samples and not args.generate:
        raise UserError(f"{needs_samples[0]} applies to generated samples; add --generate N "
                        "(e.g. --generate 64)")


def score_data(args, run, batch_size: int, autocast):
    """The NELBO (or exact NLL) figure on the validation split or, with --data, zero-shot."""
    from difflaws.data.packing import PackedSequences
    from difflaws.train.evaluate import evaluate, final_evaluation
    from difflaws.train.setup import build_data

    spec = run.spec
    if args.data:
        stream, bytes_per_token = stream_for(args.data, run, args.run_dir)
    else:
        data = build_data(spec, args.run_dir)
        stream, bytes_per_token = data.val_stream, data.val_bytes_per_token()
    seqs = PackedSequences(stream, spec.train.seq_len, run.tokenizer.eos_id, seed=0,
                           shuffle=False,
                           where="--data" if args.data else "data (validation split)")
    t = spec.train
    # the end-of-run figure's rule, unless the flags say otherwise: --batches alone is a count
    rule = final_evaluation(t) if args.batches is None else {"stderr_target": 0.0,
                                                             "max_batches": 0}
    out = evaluate(run.model, run.objective, seqs, args.batches or t.eval_batches, batch_size,
                   run.device, autocast, samples=args.samples,
                   stderr_target=rule["stderr_target"] if args.stderr_target is None
                   else args.stderr_target,
                   max_batches=rule["max_batches"] if args.max_batches is None
                   else args.max_batches,
                   proposal=args.proposal or t.eval_proposal)
    return out, bytes_per_token


def data_metrics(args, run, out, bytes_per_token) -> list:
    """The likelihood figure and bits/byte as evaluation rows, named by protocol."""
    import math

    from difflaws.metrics.metric import Metric

    protocol = "zero_shot" if args.data else "val"
    settings = {"data": list(args.data) if args.data else "validation",
                "figure": run.objective.figure_name, "exact": bool(run.objective.exact),
                "samples": 1 if run.objective.exact else args.samples,
                "estimates": out["n_estimates"], "draws": out["n_draws"],
                "sequences": out["n_sequences"], "ess": out["ess"],
                "proposal": out["proposal"], "stderr_target": out["stderr_target"]}
    nelbo = out["nelbo"]
    rows = [Metric(f"{protocol}_nelbo", nelbo, out["stderr"], out["n_tokens"], settings),
            Metric(f"{protocol}_objective", out["objective_nelbo"], out["objective_stderr"],
                   out["n_tokens"], settings)]
    if math.isfinite(bytes_per_token):
        scale = 1 / math.log(2) / bytes_per_token
        rows.append(Metric(f"{protocol}_bits_per_byte", nelbo * scale, out["stderr"] * scale,
                           out["n_tokens"], settings))
    return rows


def sample_and_judge(args, run, host, batch_size: int) -> list:
    """--generate's samples, their metrics and, with --judge, their generative perplexity."""
    from difflaws.commands.sample import sample_length, sampler_config
    from difflaws.interfaces import interface_for
    from difflaws.metrics.gen_ppl import generative_perplexity
    from difflaws.metrics.generation import generate, sample_metrics
    from difflaws.metrics.judge import open_judge

    spec = run.spec
    config = sampler_config(args, spec, host)
    length = sample_length(args, spec)
    judge = None
    if args.judge:  # before sampling: a bad judge fails fast
        judge = open_judge(args.judge, run.tokenizer, run.device, args.judge_batch_size,
                           args.judge_max_length, host=host)
    sampler = {"sampler": host.converter.unstructure(config, interface_for("sampler"))}
    generation = generate(config.build(), run.model, run.process, args.generate, length,
                          args.steps, min(batch_size, args.generate), args.seed, run.device,
                          sampler, reads_log_snr=spec.backbone.reads_log_snr())
    rows = sample_metrics(generation)
    if judge is not None:
        rows += generative_perplexity(judge, generation.tokens, generation.settings)
    return rows


def main(args) -> int:
    check_args(args)  # before torch is imported: a bad argument fails at once
    import contextlib
    import json
    import math

    from difflaws.metrics.record import record
    from difflaws.plugins import default_host
    from difflaws.train.metrics import clean
    from difflaws.train.restore import load_trained
    from difflaws.train.setup import resolve_device
    from difflaws.train.trainer import autocast_for

    resolve_device(args.device, "--device")
    host = default_host()
    run = load_trained(args.run_dir, args.device, host=host)
    spec = run.spec
    bs = args.batch_size or spec.train.eval_batch_size or spec.train.micro_batch_size \
        or spec.train.batch_size
    autocast = autocast_for(spec.train.precision, run.device) if run.device.type != "cpu" \
        else contextlib.nullcontext
    out, bytes_per_token = score_data(args, run, bs, autocast)
    metrics = data_metrics(args, run, out, bytes_per_token)
    if args.generate:
        metrics += sample_and_judge(args, run, host, bs)
    recorded = False if args.no_record else record(args.run_dir, run.step, metrics)

    nelbo, se = out["nelbo"], out["stderr"]
    result = {"run_dir": str(args.run_dir), "step": run.step, "nelbo": nelbo, "stderr": se,
              "figure": run.objective.figure_name, "exact": run.objective.exact,
              "protocol": "zero-shot" if args.data else "validation",
              "perplexity_bound": math.exp(min(nelbo, 700)), "n_tokens": out["n_tokens"],
              "n_estimates": out["n_estimates"], "n_draws": out["n_draws"],
              "n_sequences": out["n_sequences"], "ess": out["ess"],
              "objective_nelbo": out["objective_nelbo"],
              "objective_stderr": out["objective_stderr"],
              "bits_per_byte": clean(nelbo / math.log(2) / bytes_per_token)}
    if args.json:
        result = {k: clean(v) for k, v in result.items()}
        result["metrics"] = {m.name: m.as_json() for m in metrics}
        result["recorded"] = recorded
        print(json.dumps(result, sort_keys=True))
        return 0
    print_report(run, result, out, metrics)
    return 0


def print_report(run, result, out, metrics) -> None:
    from difflaws.metrics.sample_stats import REPETITION_ORDERS

    exact = run.objective.exact
    bound = "=" if exact else "≤"  # an exact NLL is no bound
    kind = "exact" if exact else "a bound on the NLL"
    draws = "" if exact else f", {out['n_draws']:,} noise draws, ESS {out['ess']:.1f}"
    print(f"{result['protocol']} {run.objective.figure_name} ({kind}) {result['nelbo']:.4f} ± "
          f"{result['stderr']:.4f} nats/token (step {run.step}, {out['n_tokens']:,} distinct "
          f"tokens{draws})")
    if not exact:
        print(f"trained objective's own estimate {out['objective_nelbo']:.4f} ± "
              f"{out['objective_stderr']:.4f} nats/token (not a bound: its per-token-λ and "
              "prompt rows as trained)")
    print(f"perplexity {bound} {result['perplexity_bound']:.3f}")
    if result["bits_per_byte"] is not None:
        print(f"bits per byte {bound} {result['bits_per_byte']:.4f}")
    by_name = {m.name: m for m in metrics}
    if "sample_entropy" in by_name:
        s = by_name["sample_entropy"].settings
        reps = " ".join(f"{by_name[f'repetition_{n}'].value:.3f}" for n in REPETITION_ORDERS)
        print(f"samples: {s['n']} × {s['length']} tokens, {s['steps']} steps, sampler "
              f"{s['sampler'].get('kind', '?')}")
        print(f"  entropy {by_name['sample_entropy'].value:.3f} ± "
              f"{by_name['sample_entropy'].stderr:.3f} nats per sample; repetition of "
              f"{REPETITION_ORDERS[0]}-{REPETITION_ORDERS[-1]}-grams {reps}")
        print(f"  NFE {by_name['nfe'].value:g} per batch; "
              f"{by_name['seconds_per_sample'].value:.4g} s per sample")
    if "gen_ppl" in by_name:
        ppl, nll = by_name["gen_ppl"], by_name["gen_nll"]
        print(f"generative perplexity {ppl.value:.3f} under {ppl.settings['judge']} (judge NLL "
              f"{nll.value:.4f} ± {nll.stderr:.4f} nats over {nll.n:,} judge tokens)")
