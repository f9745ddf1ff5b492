"""``difflaws sample RUN_DIR``: generate text from a trained run's last checkpoint.

stdout starts with one header line stating the settings (sampler kind and every
setting, steps, length, seed, NFE, wall time), then each sample; ``--out
FILE.jsonl`` also writes one JSON object per sample with all of them.  NFE
counts the model's forward passes for the whole batch: skipped steps are not
passes, feeding a finished block into the KV cache is one.  A degenerate sample
(``difflaws.sampling.degenerate``) is warned about on stderr.
"""

import sys

NAME = "sample"
HELP = "generate text from a trained run"

MAX_LENGTH = 16_384  # tokens per sample when the backbone sets no context limit
MAX_N = 1_024
MAX_STEPS = 65_536


def add_arguments(parser):
    parser.add_argument("run_dir", help="a run directory made by `difflaws run`")
    parser.add_argument("--sampler", help="sampler kind (default: the spec's), e.g. adaptive, "
                                          "ancestral, remdm, self-correction")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a sampler setting, e.g. --option temperature=0.5")
    parser.add_argument("--steps", type=int, default=128,
                        help="denoising steps (per block with --option block_length=...)")
    parser.add_argument("--n", type=int, default=4, help="number of samples")
    parser.add_argument("--length", type=int, help="tokens per sample (default: train.seq_len)")
    parser.add_argument("--prompt", help="text every sample starts with")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", metavar="FILE.jsonl",
                        help="also write the samples and every setting, one JSON object per "
                             "sample")


def check_args(args) -> None:
    """Refuse out-of-range arguments before anything is loaded."""
    check_bounds((("--steps", args.steps, MAX_STEPS), ("--n", args.n, MAX_N)))
    check_sample_args(args)
    if args.out is not None:
        check_file_path("--out", args.out, "samples.jsonl")


def check_file_path(flag: str, path, example: str) -> None:
    """Refuse an output path that is a folder, or whose parent is a file."""
    from pathlib import Path

    from difflaws.errors import UserError

    out = Path(path)
    if out.is_dir() or (out.parent.exists() and not out.parent.is_dir()):
        raise UserError(f"{flag} {path}: not a file path; pass e.g. {flag} {example}")


def check_bounds(bounds) -> None:
    """Refuse each ``(flag, value, top)`` whose value is given and outside 1 … top."""
    from difflaws.errors import UserError

    for flag, value, top in bounds:
        if value is not None and not 1 <= value <= top:
            raise UserError(f"{flag} {value}: must be between 1 and {top:,}; pass e.g. "
                            f"{flag} {min(4, top)}")


def check_sample_args(args) -> None:
    """The checks ``sample`` and ``eval --generate`` share: --length, --seed and --device."""
    from difflaws.errors import UserError
    from difflaws.spec.types import SEED_MAX

    if args.length is not None and args.length < 1:
        raise UserError(f"--length {args.length}: must be at least 1 (default: the run's "
                        "train.seq_len)")
    if not 0 <= args.seed <= SEED_MAX:
        raise UserError(f"--seed {args.seed}: seeds lie between 0 and 2**63-1; pass e.g. --seed 0")
    check_device_flag(args.device)


def check_device_flag(device: str) -> None:
    """``--device`` as ``train.config.check_device`` accepts it, or a UserError."""
    from difflaws.errors import UserError
    from difflaws.train.config import check_device

    try:
        check_device(device, "--device")
    except ValueError as exc:
        raise UserError(str(exc)) from None


def length_limit(spec) -> tuple[int, str]:
    limit = spec.backbone.max_context()
    if limit is not None and limit <= MAX_LENGTH:
        return limit, "the backbone's context limit"
    return MAX_LENGTH, "the longest sample difflaws generates"


def sample_length(args, spec) -> int:
    """--length, or the run's train.seq_len; a UserError above what the backbone takes."""
    from difflaws.errors import UserError

    length = args.length or spec.train.seq_len
    limit, what = length_limit(spec)
    if length > limit:
        raise UserError(f"--length {length}: above {what}, {limit:,} tokens; pass --length "
                        f"{min(limit, spec.train.seq_len)} or less")
    return length


def sampler_config(args, spec, host):
    """The spec's sampler, or the one --sampler/--option describe (a UserError if bad)."""
    config = spec.sampler
    if not (args.sampler or args.option):
        return config
    config = structured_sampler(args, spec, host)
    family = spec.objective.sampler_family()
    if config.family() != family:
        from difflaws.errors import UserError

        raise UserError(f"--sampler {args.sampler}: it generates {config.family()} and this "
                        f"run's model generates {family}; drop --sampler for the run's own "
                        f"({host.registry.kind_of(spec.sampler).name})")
    return config


def structured_sampler(args, spec, host):
    from difflaws.errors import Problem, SpecError
    from difflaws.interfaces import interface_for
    from difflaws.spec.converter import flatten
    from difflaws.spec.load import parse_override

    config = spec.sampler
    table = host.converter.unstructure(config, interface_for("sampler")) if not args.sampler \
        else {"kind": args.sampler}
    table.update(parse_override(item, "--option") for item in args.option)
    try:
        return host.converter.structure(table, interface_for("sampler"))
    except Exception as exc:  # cattrs' grouped errors and validators' alike
        flag = "--sampler/--option" if args.sampler else "--option"
        raise SpecError([Problem(p or "sampler", m, flag) for p, m in flatten(exc, None)],
                        fix="see `difflaws kinds sampler` for every sampler and its options") \
            from None


def main(args) -> int:
    from difflaws import engine
    from difflaws.errors import UserError
    from difflaws.plugins import default_host

    check_args(args)  # all of the arguments' checks come before torch is even imported
    host = default_host()
    spec = engine.load_run(args.run_dir, host=host)
    config = sampler_config(args, spec, host)
    length = sample_length(args, spec)
    import time

    import torch

    from difflaws.interfaces import interface_for
    from difflaws.sampling.denoiser import CountedDenoiser
    from difflaws.train.restore import load_trained
    from difflaws.train.setup import resolve_device

    resolve_device(args.device, "--device")
    run = load_trained(args.run_dir, args.device, host=host)
    sampler = config.build()
    prompt, prompt_ids = None, []
    if args.prompt:
        prompt_ids = run.tokenizer.encode(args.prompt)
        if len(prompt_ids) >= length:
            raise UserError(f"--prompt is {len(prompt_ids)} tokens, not shorter than --length "
                            f"{length}; shorten the prompt or raise --length")
        prompt = torch.tensor([prompt_ids] * args.n, dtype=torch.long, device=run.device)
    if length > spec.train.seq_len:
        print(f"note: --length {length} is beyond train.seq_len {spec.train.seq_len}; the "
              "model never saw positions that far", file=sys.stderr)
    denoiser = CountedDenoiser(run.model, reads_log_snr=spec.backbone.reads_log_snr())
    gen = torch.Generator(device=run.device).manual_seed(args.seed)
    start = time.perf_counter()
    with torch.no_grad():
        tokens = sampler.sample(denoiser, run.process, args.n, length, args.steps,
                                prompt=prompt, generator=gen, device=run.device)
    rows = tokens.tolist()
    settings = {
        "run_dir": str(args.run_dir), "step": run.step,
        "sampler": host.converter.unstructure(config, interface_for("sampler")),
        "seed": args.seed, "steps": args.steps, "length": length, "n": args.n,
        "prompt": args.prompt, "device": str(run.device), "nfe": denoiser.calls,
        "wall_seconds": round(time.perf_counter() - start, 4),
    }
    print(header(settings))
    records = []
    for i, row in enumerate(rows):
        text = run.tokenizer.decode(row)
        print(f"--- sample {i + 1}/{args.n} (step {run.step}) ---")
        print(text)
        warn_if_degenerate(row[len(prompt_ids):], run.tokenizer.decode, i, args.n)
        records.append({**settings, "index": i, "tokens": row, "text": text})
    if args.out:
        write_records(args.out, records)
    return 0


def header(settings: dict) -> str:
    """One line with every setting the samples below depend on."""
    sampler = dict(settings["sampler"])
    kind = sampler.pop("kind")
    options = ", ".join(f"{k}={v}" for k, v in sampler.items())
    return (f"# difflaws sample {settings['run_dir']} (step {settings['step']}): sampler {kind} "
            f"({options}); steps {settings['steps']}, length {settings['length']}, "
            f"seed {settings['seed']}, n {settings['n']}, prompt {settings['prompt']!r}; "
            f"NFE {settings['nfe']}, {settings['wall_seconds']:.2f} s")


def warn_if_degenerate(generated: list[int], decode, index: int, n: int) -> None:
    from difflaws.sampling.degenerate import degeneracy

    why = degeneracy(generated, decode)
    if why:
        print(f"warning: sample {index + 1}/{n} is degenerate: {why}. Try more --steps, a lower "
              "or higher temperature (--option temperature=...), another --sampler (`difflaws "
              "kinds sampler`), or a better-trained model", file=sys.stderr)


def write_records(path, records: list[dict]) -> None:
    import json

    from difflaws.atomic import write_text
    from difflaws.errors import UserError

    try:
        write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    except OSError as exc:
        raise UserError(f"--out {path}: cannot write it ({exc.strerror or exc}); pass a "
                        "writable path") from None
