"""``difflaws eval RUN_DIR``: held-out NELBO with a standard error, perplexity bound, bits/byte."""

NAME = "eval"
HELP = "evaluate a trained run's NELBO on held-out (or given) data"


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
    from difflaws.train.setup import cache_dir_for

    if len(paths) == 1 and paths[0].endswith(".bin"):
        meta = tokens_file.read_meta(paths[0], "--data")
        if meta["vocab_size"] > run.tokenizer.vocab_size:
            from difflaws.spec.errors import UserError

            raise UserError(f"--data: {paths[0]} has vocab_size {meta['vocab_size']}, larger "
                            f"than the run's tokenizer ({run.tokenizer.vocab_size})")
        return tokens_file.read(paths[0], "--data"), float("nan")
    source = TextSource(paths, val_fraction=0.0)
    texts = list(source.texts(None))
    path = source.cache_path("eval", run.tokenizer, cache_dir_for(run_dir))
    if not tokens_file.exists(path):
        encode_to_file(texts, run.tokenizer, path)
    stream = tokens_file.read(path)
    return stream, sum(len(t.encode("utf-8")) for t in texts) / max(len(stream), 1)


def main(args) -> int:
    import contextlib
    import json
    import math

    from difflaws.data.packing import PackedSequences
    from difflaws.plugins import default_host
    from difflaws.spec.errors import UserError
    from difflaws.train.evaluate import evaluate
    from difflaws.train.metrics import clean
    from difflaws.train.setup import build_data
    from difflaws.train.trainer import autocast_for

    if args.samples < 1 or args.batches < 1:
        raise UserError("--samples and --batches must be at least 1")
    from difflaws.train.restore import load_trained

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
