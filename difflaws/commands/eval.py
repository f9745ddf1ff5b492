"""``difflaws eval RUN_DIR``: held-out NELBO with a standard error, perplexity bound, bits/byte."""

NAME = "eval"
HELP = "evaluate a trained run's NELBO on held-out (or given) data"

MAX_SAMPLES = 1_024
MAX_BATCHES = 1_048_576
MAX_BATCH_SIZE = 65_536


def add_arguments(parser):
    parser.add_argument("run_dir", help="a run directory made by `difflaws run`")
    parser.add_argument("--data", nargs="+", metavar="PATH",
                        help="text files/globs or a tokens .bin to score (default: the run's "
                             "validation split)")
    parser.add_argument("--samples", type=int, default=4,
                        help="independent noise draws per batch (the NELBO is a Monte Carlo mean)")
    parser.add_argument("--batches", type=int, default=8, help="batches of sequences to score")
    parser.add_argument("--batch-size", type=int, help="sequences per batch (default: train's)")
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
    from difflaws.errors import UserError
    from difflaws.train.config import check_device

    bounds = (("--samples", args.samples, MAX_SAMPLES), ("--batches", args.batches, MAX_BATCHES),
              ("--batch-size", args.batch_size, MAX_BATCH_SIZE))
    for flag, value, top in bounds:
        if value is not None and not 1 <= value <= top:
            raise UserError(f"{flag} {value}: must be between 1 and {top:,}; pass e.g. {flag} 4")
    try:
        check_device(args.device, "--device")
    except ValueError as exc:
        raise UserError(str(exc)) from None


def main(args) -> int:
    check_args(args)  # before torch is imported: a bad argument fails at once
    import contextlib
    import json
    import math

    from difflaws.data.packing import PackedSequences
    from difflaws.plugins import default_host
    from difflaws.train.evaluate import evaluate
    from difflaws.train.metrics import clean
    from difflaws.train.setup import build_data
    from difflaws.train.trainer import autocast_for

    from difflaws.train.restore import load_trained
    from difflaws.train.setup import resolve_device

    resolve_device(args.device, "--device")
    run = load_trained(args.run_dir, args.device, host=default_host())
    spec = run.spec
    T = spec.train.seq_len
    if args.data:
        stream, bytes_per_token = stream_for(args.data, run, args.run_dir)
    else:
        data = build_data(spec, args.run_dir)
        stream, bytes_per_token = data.val_stream, data.val_bytes_per_token()
    seqs = PackedSequences(stream, T, run.tokenizer.eos_id, seed=0, shuffle=False,
                           where="--data" if args.data else "data (validation split)")
    bs = args.batch_size or spec.train.eval_batch_size or spec.train.micro_batch_size \
        or spec.train.batch_size
    batches = min(args.batches, max(1, seqs.n_windows // bs))
    autocast = autocast_for(spec.train.precision, run.device) if run.device.type != "cpu" \
        else contextlib.nullcontext
    out = evaluate(run.model, run.process, seqs, batches, min(bs, seqs.n_windows), run.device,
                   autocast, samples=args.samples)
    nelbo, se = out["nelbo"], out["stderr"]
    result = {"run_dir": str(args.run_dir), "step": run.step, "nelbo": nelbo, "stderr": se,
              "perplexity_bound": math.exp(min(nelbo, 700)), "n_tokens": out["n_tokens"],
              "n_estimates": out["n_estimates"],
              "bits_per_byte": clean(nelbo / math.log(2) / bytes_per_token)}
    if args.json:
        print(json.dumps({k: clean(v) for k, v in result.items()}, sort_keys=True))
        return 0
    print(f"NELBO {nelbo:.4f} ± {se:.4f} nats/token (step {run.step}, {out['n_tokens']:,} tokens, "
          f"{out['n_estimates']} estimates)")
    print(f"perplexity ≤ {result['perplexity_bound']:.3f}")
    if result["bits_per_byte"] is not None:
        print(f"bits per byte ≤ {result['bits_per_byte']:.4f}")
    return 0
