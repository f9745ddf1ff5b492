"""``difflaws sweep SPEC``: list (--dry-run) or run the members of a sweep, resumably."""

import json
import sys

NAME = "sweep"
HELP = "run (or, with --dry-run, list) every member of a sweep spec through an executor"


def add_arguments(parser):
    parser.add_argument("spec", help="path to a sweep spec (TOML with base_spec and [axes])")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a key of the sweep spec, "
                                                  "e.g. --set executor.jobs=2")
    parser.add_argument("--out", help="sweep directory (default: OUT_DIR/NAME from the sweep spec)")
    parser.add_argument("--dry-run", action="store_true",
                        help="check and list the members and their state; run nothing")
    parser.add_argument("--executor", metavar="KIND",
                        help="executor kind (local, submitit, ...); default: the spec's [executor]")
    parser.add_argument("--jobs", type=int,
                        help="local executor: members run at the same time (= executor.jobs)")
    parser.add_argument("--json", action="store_true", help="machine-readable listing")


def main(args) -> int:
    from difflaws import engine
    from difflaws.plugins import default_host
    from difflaws.sweep.load import load_sweep, write_manifest
    from difflaws.sweep.members import literal
    from difflaws.sweep.tasks import DONE, PARTIAL, log_tail, state, tasks_for

    host = default_host()
    overrides = list(args.overrides)
    if args.jobs is not None:
        overrides.append(f"executor.jobs={args.jobs}")
    sweep = load_sweep(args.spec, overrides, out=args.out, host=host, executor=args.executor)
    executor = sweep.spec.executor.build(folder=sweep.directory / "executor")
    tasks = tasks_for(sweep)
    states = [state(t.run_dir) for t in tasks]
    if args.dry_run:
        rows = []
        for member, spec, task, st in zip(sweep.members, sweep.run_specs, tasks, states):
            figures = engine.figures(spec) or {}
            rows.append({"name": member.name, "state": st, "values": member.values,
                         "run_dir": str(task.run_dir), "command": executor.describe(task),
                         "non_embedding_params": figures.get("non_embedding_params"),
                         "flops_per_token_M": figures.get("flops_per_token_M")})
        if args.json:
            print(json.dumps({"sweep": sweep.spec.name, "directory": str(sweep.directory),
                              "members": rows}, indent=2))
        else:
            print(f"sweep {sweep.spec.name!r}: {len(rows)} members in {sweep.directory}")
            for row in rows:
                values = "  ".join(f"{k}={literal(v)}" for k, v in row["values"].items())
                params = row["non_embedding_params"]
                size = f"{params / 1e6:.3g}M" if params else "?"
                print(f"  {row['state']:<8} {row['name']:<48} {size:>8}  {values}")
            if rows:
                print(f"first command: {rows[0]['command']}")
        return 0
    write_manifest(sweep)
    todo = [t for t, st in zip(tasks, states) if st != DONE]
    resuming = sum(st == PARTIAL for st in states)
    print(f"sweep {sweep.spec.name!r}: {len(tasks) - len(todo)} done, {len(todo)} to run "
          f"({resuming} resuming) in {sweep.directory}", file=sys.stderr)

    def report(outcome):
        mark = "done" if outcome.ok else f"FAILED (exit {outcome.returncode})"
        print(f"  {outcome.name}: {mark} in {outcome.seconds:.1f} s", file=sys.stderr)

    outcomes = executor.run(todo, on_done=report)
    failed = [o for o in outcomes if not o.ok]
    for o in failed:
        print(f"difflaws sweep: {o.name} failed; last lines of {o.log}:\n{log_tail(o.log)}",
              file=sys.stderr)
    if failed:
        print(f"difflaws sweep: {len(failed)} of {len(todo)} members failed; fix them and "
              "re-run the same command to resume", file=sys.stderr)
        return 1
    return 0
