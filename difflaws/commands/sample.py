"""``difflaws sample RUN_DIR``: generate text from a trained run's last checkpoint."""

NAME = "sample"
HELP = "generate text from a trained run"

MAX_LENGTH = 16_384  # tokens per sample when the backbone sets no context limit
MAX_N = 1_024
MAX_STEPS = 65_536


def add_arguments(parser):
    parser.add_argument("run_dir", help="a run directory made by `difflaws run`")
    parser.add_argument("--sampler", help="sampler kind (default: the spec's), e.g. adaptive, "
                                          "ancestral, self-correction")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a sampler setting, e.g. --option temperature=0.5")
    parser.add_argument("--steps", type=int, default=128, help="denoising steps")
    parser.add_argument("--n", type=int, default=4, help="number of samples")
    parser.add_argument("--length", type=int, help="tokens per sample (default: train.seq_len)")
    parser.add_argument("--prompt", help="text every sample starts with")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")


def check_args(args) -> None:
    """Refuse out-of-range arguments before anything is loaded."""
    from difflaws.errors import UserError
    from difflaws.spec.types import SEED_MAX
    from difflaws.train.config import check_device

    for flag, value, top in (("--steps", args.steps, MAX_STEPS), ("--n", args.n, MAX_N)):
        if not 1 <= value <= top:
            raise UserError(f"{flag} {value}: must be between 1 and {top:,}; pass e.g. "
                            f"{flag} {min(4, top)}")
    if args.length is not None and args.length < 1:
        raise UserError(f"--length {args.length}: must be at least 1 (default: the run's "
                        "train.seq_len)")
    if not 0 <= args.seed <= SEED_MAX:
        raise UserError(f"--seed {args.seed}: seeds lie between 0 and 2**63-1; pass e.g. --seed 0")
    try:
        check_device(args.device, "--device")
    except ValueError as exc:
        raise UserError(str(exc)) from None


def length_limit(spec) -> tuple[int, str]:
    limit = spec.backbone.max_context()
    if limit is not None and limit <= MAX_LENGTH:
        return limit, "the backbone's context limit"
    return MAX_LENGTH, "the longest sample difflaws generates"


def sampler_config(args, spec, host):
    """The spec's sampler, or the one --sampler/--option describe (a UserError if bad)."""
    from difflaws.errors import Problem, SpecError
    from difflaws.interfaces import interface_for
    from difflaws.spec.converter import flatten
    from difflaws.spec.load import parse_override

    config = spec.sampler
    if not (args.sampler or args.option):
        return config
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
    length = args.length or spec.train.seq_len
    limit, what = length_limit(spec)
    if length > limit:
        raise UserError(f"--length {length}: above {what}, {limit:,} tokens; pass --length "
                        f"{min(limit, spec.train.seq_len)} or less")
    import torch

    from difflaws.train.restore import load_trained
    from difflaws.train.setup import resolve_device

    resolve_device(args.device, "--device")
    run = load_trained(args.run_dir, args.device, host=host)
    sampler = config.build()
    prompt = None
    if args.prompt:
        ids = run.tokenizer.encode(args.prompt)
        if len(ids) >= length:
            raise UserError(f"--prompt is {len(ids)} tokens, not shorter than --length {length}; "
                            "shorten the prompt or raise --length")
        prompt = torch.tensor([ids] * args.n, dtype=torch.long, device=run.device)
    gen = torch.Generator(device=run.device).manual_seed(args.seed)

    def denoiser(tokens, log_snr):
        return run.model(tokens, log_snr)

    with torch.no_grad():
        tokens = sampler.sample(denoiser, run.process, args.n, length, args.steps,
                                prompt=prompt, generator=gen, device=run.device)
    for i, row in enumerate(tokens.tolist()):
        print(f"--- sample {i + 1}/{args.n} (step {run.step}) ---")
        print(run.tokenizer.decode(row))
    return 0
