"""``difflaws sample RUN_DIR``: generate text from a trained run's last checkpoint."""

NAME = "sample"
HELP = "generate text from a trained run"


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


def main(args) -> int:
    import torch

    from difflaws.components import Slot
    from difflaws.plugins import default_host
    from difflaws.spec.errors import UserError
    from difflaws.spec.load import parse_override
    from difflaws.train.restore import load_trained

    if args.steps < 1 or args.n < 1:
        raise UserError("--steps and --n must be at least 1")
    host = default_host()
    run = load_trained(args.run_dir, args.device, host=host)
    config = run.spec.sampler
    if args.sampler or args.option:
        table = host.converter.unstructure(config, Slot["sampler"]) if not args.sampler \
            else {"kind": args.sampler}
        table.update(parse_override(item) for item in args.option)
        try:
            config = host.converter.structure(table, Slot["sampler"])
        except Exception as exc:
            raise UserError(f"--sampler/--option: {exc}") from None
    sampler = config.build()
    length = args.length or run.spec.train.seq_len
    prompt = None
    if args.prompt:
        ids = run.tokenizer.encode(args.prompt)
        if len(ids) >= length:
            raise UserError(f"--prompt is {len(ids)} tokens, not shorter than --length {length}")
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
