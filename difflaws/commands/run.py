"""``difflaws run SPEC``: train (or, with --dry-run, plan) a run from a spec."""

import contextlib
import json
import os
import sys

from difflaws import engine, rundir
from difflaws.paths import check_writable_dir
from difflaws.plugins import default_host
from difflaws.signals import Stopped
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
    run_dir = engine.run_dir_for(spec, args.out)  # refuses a name that is not one safe component
    if args.dry_run:
        from difflaws.plan import run_plan

        print(resolved_toml(spec, host), end="")
        print(json.dumps(run_plan.plan(spec), indent=2) if args.json else run_plan.plan_text(spec))
        return 0
    if args.nproc:
        return launch(args, spec, run_dir, host)
    check_writable_dir(run_dir, "--out" if args.out else "out_dir")
    # torchrun's other ranks, and the ranks of our own --nproc launcher, leave the checks
    # (and the lock) to rank 0 or to the launcher, which made them already
    checks = os.environ.get("RANK", "0") == "0" and \
        os.environ.get(rundir.LOCK_HELD_ENV) != os.path.realpath(run_dir)
    with contextlib.ExitStack() as held:
        if checks and run_dir.is_dir():  # refuse a busy, damaged or finished one at once
            held.enter_context(rundir.hold(run_dir))
            if not args.force:  # --force starts over only once the model is known to fit
                engine.check_run_dir(spec, run_dir, host=host)
            summary = engine.finished_summary(spec, run_dir) \
                if engine.spec_matches(spec, run_dir, host) else None
            if summary is not None:
                return already_finished(run_dir, summary, args)
        from difflaws.plan.run_plan import refuse_if_too_big
        from difflaws.train.trainer import train

        refuse_if_too_big(spec, args.spec, args.overrides)  # before anything is created
        if checks:
            if not rundir.holds(run_dir):
                rundir.make_dir(run_dir)
                held.enter_context(rundir.hold(run_dir))
            engine.check_run_dir(spec, run_dir, force=args.force, host=host)
        try:
            train(spec, run_dir, quiet=args.quiet, json_lines=args.json, resume=args.resume,
                  host=host)
        except Stopped as stop:
            if stop.main:
                print(f"difflaws run: {stop}", file=sys.stderr, flush=True)
            return stop.exit_code
    return 0


def already_finished(run_dir, summary: dict, args) -> int:
    """A finished run re-run: report it, keep it finished (in the DB too), train nothing."""
    from difflaws.store import workspace_db
    from difflaws.store.rebuild import add_run
    from difflaws.train.metrics import report

    db, run_id = workspace_db(run_dir)
    with db:
        row = db.run(run_id)
        if row is None:  # a DB rebuilt or deleted since: the run directory has it all
            add_run(db, run_dir)
        elif row.get("status") != "finished":
            db.upsert_run(run_id, status="finished", last_step=summary.get("steps"),
                          tokens=summary.get("tokens"), final_val_nelbo=summary.get("val_nelbo"),
                          unigram_entropy=summary.get("unigram_entropy"),
                          wall_seconds=summary.get("wall_seconds"))
    if not (args.quiet or args.json):
        print(f"difflaws run: {run_dir} already finished ({summary.get('steps')} steps); "
              "nothing to train", file=sys.stderr, flush=True)
    report(summary, run_dir, json_lines=args.json)
    return 0


def launch(args, spec, run_dir, host) -> int:
    """Re-run this very command in ``--nproc`` processes under torchrun (which holds the run
    directory's lock for them)."""
    from difflaws.distributed.launch import relaunch
    from difflaws.errors import UserError

    if args.nproc < 1:
        raise UserError(f"--nproc {args.nproc}: give a number of processes, 1 or more")
    check_writable_dir(run_dir, "--out" if args.out else "out_dir")
    if args.nproc > 1 and spec.distributed.strategy == "none":
        raise UserError(f"--nproc {args.nproc} needs distributed.strategy = \"ddp\" or "
                        "\"fsdp2\" (e.g. --set distributed.strategy=fsdp2)")
    argv = ["run", args.spec, *(a for o in args.overrides for a in ("--set", o))]
    argv += ["--out", args.out] if args.out else []
    argv += [f"--{flag}" for flag in ("resume", "force", "quiet", "json") if getattr(args, flag)]
    rundir.make_dir(run_dir)
    with rundir.hold(run_dir):
        engine.check_run_dir(spec, run_dir, force=args.force, host=host)
        summary = engine.finished_summary(spec, run_dir) \
            if engine.spec_matches(spec, run_dir, host) else None
        if summary is not None:
            return already_finished(run_dir, summary, args)
        os.environ[rundir.LOCK_HELD_ENV] = os.path.realpath(run_dir)
        try:
            return relaunch(args.nproc, argv)
        finally:
            os.environ.pop(rundir.LOCK_HELD_ENV, None)
