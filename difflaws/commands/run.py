"""``difflaws run SPEC``: train (or, with --dry-run, plan) a run from a spec."""

import json

from difflaws import engine
from difflaws.plugins import default_host
from difflaws.spec import resolved_toml

NAME = "run"
HELP = "train a model from a spec, or print its plan with --dry-run"


def add_arguments(parser):
    parser.add_argument("spec", help="path to a TOML spec")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a key, e.g. --set train.steps=200")
    parser.add_argument("--out", help="run directory (default: OUT_DIR/NAME from the spec)")
    parser.add_argument("--dry-run", action="store_true", help="resolve and plan, train nothing")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the run directory's last checkpoint")
    parser.add_argument("--force", action="store_true",
                        help="reuse a run directory that holds a different spec")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print metrics as JSON lines")
    parser.add_argument("--nproc", type=int, default=0, metavar="N",
                        help="train in N processes on this node through torchrun (needs "
                             "distributed.strategy = ddp or fsdp2); multi-node: call torchrun "
                             "yourself, see difflaws.distributed.launch")


def main(args) -> int:
    host = default_host()
    spec = engine.load(args.spec, args.overrides, host=host)
    if args.dry_run:
        from difflaws.plan import run_plan

        print(resolved_toml(spec, host), end="")
        print(json.dumps(run_plan.plan(spec), indent=2) if args.json else run_plan.plan_text(spec))
        return 0
    if args.nproc:
        return launch(args, spec)
    from difflaws.plan.run_plan import refuse_if_too_big
    from difflaws.train.trainer import start_over, train

    refuse_if_too_big(spec, args.spec, args.overrides)
    if args.force and engine.holds_other_spec(spec, args.out, host):
        start_over(engine.run_dir_for(spec, args.out))
    run_dir = engine.open_run_dir(spec, args.out, force=args.force, host=host)
    train(spec, run_dir, quiet=args.quiet, json_lines=args.json, resume=args.resume, host=host)
    return 0


def launch(args, spec) -> int:
    """Re-run this very command in ``--nproc`` processes under torchrun."""
    from difflaws.distributed.launch import relaunch
    from difflaws.spec.errors import UserError

    if args.nproc > 1 and spec.distributed.strategy == "none":
        raise UserError(f"--nproc {args.nproc} needs distributed.strategy = \"ddp\" or "
                        "\"fsdp2\" (e.g. --set distributed.strategy=fsdp2)")
    argv = ["run", args.spec, *(a for o in args.overrides for a in ("--set", o))]
    argv += ["--out", args.out] if args.out else []
    argv += [f"--{flag}" for flag in ("resume", "force", "quiet", "json") if getattr(args, flag)]
    return relaunch(args.nproc, argv)
