"""``difflaws plan --compute C --noise NAME``: the compute-optimal run for a budget."""

import json
import sys

NAME = "plan"
HELP = "predict the compute-optimal model, data, batch size and LR for a FLOP budget"


def add_arguments(parser):
    parser.add_argument("--compute", required=True, help="training budget in FLOPs, e.g. 1e22")
    parser.add_argument("--noise", default=None,
                        help="a noise type of the law set (paper: masked, low-uniform, balanced, "
                             "high-uniform, uniform; default: the set's own) or a group name of "
                             "your fitted laws")
    parser.add_argument("--laws", default=None,
                        help="a registered law set (`difflaws kinds lawset`; default: the "
                             "default one, paper) or the JSON written by `difflaws fit --json`")
    parser.add_argument("--seq-len", type=int, default=2048, help="sequence length (tokens)")
    parser.add_argument("--vocab-size", type=int, default=131072,
                        help="vocabulary size, for total parameters and memory")
    parser.add_argument("--gpu-mem", action="append", default=[], metavar="SIZE",
                        help="card size(s) for the fewest-GPUs estimate (default: 80GB and 141GB)")
    parser.add_argument("--base", metavar="SPEC",
                        help="spec whose backbone, tokenizer, data, ... the plan uses and emits")
    parser.add_argument("--emit-spec", metavar="PATH", help="write the planned run as a spec")
    parser.add_argument("--tolerance", type=float, default=0.02,
                        help="how close the shape's FLOPs/token must be to N* (default 2%%)")
    parser.add_argument("--unique-tokens", metavar="U", default=None,
                        help="only U distinct training tokens exist: with --laws FIT.json of a "
                             "law with a loss of unique tokens, plan N, D and epochs per family "
                             "(docs/fitting.md §8)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def main(args) -> int:
    from difflaws.plan.devices import DEFAULT_CARDS, card_plans, parse_bytes
    from difflaws.plan.figures import shape_measure
    from difflaws.plan.laws import load_law_set
    from difflaws.plan.memory import Footprint, Setup, estimate
    from difflaws.plan.predict import predict
    from difflaws.plan.report import prediction_json, prediction_text
    from difflaws.plugins import default_host
    from difflaws.errors import UserError
    from difflaws.spec.load import read_with_bases

    host = default_host()
    if args.unique_tokens is not None:
        return _unique_tokens(args, host)
    if args.seq_len <= 0 or args.vocab_size <= 0:
        raise UserError("--seq-len and --vocab-size must be positive")
    if not 0 < args.tolerance < 1:
        raise UserError(f"--tolerance {args.tolerance}: give a fraction in (0, 1), e.g. 0.02")
    if args.emit_spec:
        from difflaws.paths import check_writable_file

        check_writable_file(args.emit_spec, "--emit-spec")
    laws = load_law_set(args.laws or host.registry.default("lawset"), host)
    backbone = laws.recipe.get("backbone")
    if args.base:
        backbone = read_with_bases(args.base).data.get("backbone", backbone)
    if backbone is None:
        raise UserError(f"law set {laws.name!r} names no backbone; pass --base SPEC")
    measure = shape_measure(backbone, args.vocab_size, args.seq_len, host)
    noise = args.noise or laws.default_noise
    p = predict(laws, args.compute, noise, measure, args.seq_len, args.tolerance)
    figures = p.shape.figures
    fp = Footprint.from_figures(figures, args.vocab_size, args.seq_len)
    single = estimate(fp, Setup(micro_batch=1))
    cards = card_plans(fp, p.batch_size, tuple(args.gpu_mem) or DEFAULT_CARDS)
    if args.json:
        print(json.dumps(prediction_json(p, figures, single, cards), indent=2))
    else:
        print(prediction_text(p, figures, single, cards))
    for warning in p.warnings if args.json else ():
        print(f"difflaws plan: warning: {warning}", file=sys.stderr)
    if args.emit_spec:
        from difflaws.plan.emit import write_spec

        sharded = not single.fits(parse_bytes(DEFAULT_CARDS[0]))
        path = write_spec(args.emit_spec, p, laws, host, base_path=args.base, sharded=sharded)
        print(f"wrote {path}", file=sys.stderr)
    return 0


def _unique_tokens(args, host) -> int:
    """The data-constrained plan: no shape, batch or spec, only N, D, epochs and loss."""
    from difflaws.errors import UserError
    from difflaws.plan.data_constrained import check_unique, describe, fix_hint, plan

    check_unique(args.unique_tokens)  # the flag's own mistake first, before --laws
    if args.laws is None:
        raise UserError(f"--unique-tokens needs --laws FIT.json: {fix_hint(host)}")
    if args.emit_spec:
        raise UserError("--emit-spec: not with --unique-tokens (it plans no shape); drop one")
    result = plan(args.laws, args.compute, args.unique_tokens, args.noise, host)
    print(json.dumps(result, indent=2) if args.json else describe(result))
    return 0
