"""``difflaws lm-eval RUN_DIR --tasks ...``: lm-eval-harness tasks on a trained run.

The run is lm-eval's ``difflaws`` model (``difflaws.integrations.lm_eval``);
each task's numeric results are printed and added to the results DB's
``evaluations`` table as ``lm-eval/<task>/<metric>`` (docs/evaluation.md §4).
"""

NAME = "lm-eval"
HELP = "score a trained run on lm-eval-harness tasks (pip install 'difflaws[lm-eval]')"

MAX_MC_SAMPLES = 65_536
MAX_SEED = 2**32 - 1  # numpy's seeds are 32-bit


def add_arguments(parser):
    parser.add_argument("run_dir", help="a run directory made by `difflaws run`")
    parser.add_argument("--tasks", required=True,
                        help="comma-separated lm-eval task names (or task YAML names from "
                             "--include-path)")
    parser.add_argument("--include-path", metavar="DIR",
                        help="a folder of extra task YAML files, e.g. local multiple-choice tasks")
    parser.add_argument("--no-builtin-tasks", action="store_true",
                        help="index only --include-path's tasks (skips lm-eval's thousands: "
                             "faster)")
    parser.add_argument("--mc-samples", type=int, default=32,
                        help="Monte Carlo draws per scored block of a diffusion run (ignored "
                             "by an exact next-token run)")
    parser.add_argument("--steps", type=int, default=128, help="sampler steps for generation tasks")
    parser.add_argument("--num-fewshot", type=int, help="few-shot examples per prompt")
    parser.add_argument("--limit", type=float, help="documents per task (a fraction if < 1)")
    parser.add_argument("--batch-size", type=int, help="sequences per forward (default: train's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--output", metavar="FILE", help="also write lm-eval's results as JSON")
    parser.add_argument("--no-record", action="store_true",
                        help="do not add the results to the results DB's evaluations table")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def check_args(args) -> None:
    from pathlib import Path

    from difflaws.commands.sample import check_device_flag, check_file_path
    from difflaws.engine import SPEC_FILE
    from difflaws.errors import UserError

    if not (Path(args.run_dir) / SPEC_FILE).is_file():
        raise UserError(f"{args.run_dir} is not a run directory (no {SPEC_FILE}); pass the "
                        "directory that `difflaws run` created")
    if not task_names(args.tasks):
        raise UserError(f"--tasks {args.tasks!r}: names no task; pass e.g. --tasks piqa,hellaswag")
    if not 1 <= args.mc_samples <= MAX_MC_SAMPLES:
        raise UserError(f"--mc-samples {args.mc_samples}: must be between 1 and "
                        f"{MAX_MC_SAMPLES:,}; pass e.g. --mc-samples 32")
    for flag, value in (("--steps", args.steps), ("--batch-size", args.batch_size)):
        if value is not None and value < 1:
            raise UserError(f"{flag} {value}: must be at least 1")
    if args.num_fewshot is not None and args.num_fewshot < 0:
        raise UserError(f"--num-fewshot {args.num_fewshot}: must be 0 or more")
    if not 0 <= args.seed <= MAX_SEED:
        raise UserError(f"--seed {args.seed}: lm-eval seeds numpy too, so it lies between 0 and "
                        "2**32-1; pass e.g. --seed 0")
    if args.limit is not None and args.limit <= 0:
        raise UserError(f"--limit {args.limit}: must be positive (a count, or a fraction < 1)")
    if args.include_path and not Path(args.include_path).is_dir():
        raise UserError(f"--include-path {args.include_path}: not a folder; pass the folder "
                        "holding the task YAML files")
    if args.no_builtin_tasks and not args.include_path:
        raise UserError("--no-builtin-tasks leaves no tasks without --include-path DIR")
    check_device_flag(args.device)
    if args.output is not None:
        check_file_path("--output", args.output, "results.json")


def task_names(tasks: str) -> list[str]:
    return [t.strip() for t in tasks.split(",") if t.strip()]


def numeric_results(results: dict, settings: dict) -> list:
    """``lm-eval/<task>/<metric>`` rows from lm-eval's results: every numeric metric, with its
    ``<metric>_stderr`` when lm-eval computed one."""
    from difflaws.metrics.metric import Metric

    rows = []
    for task, figures in sorted(results.get("results", {}).items()):
        n = results.get("n-samples", {}).get(task, {}).get("effective")
        for key, value in sorted(figures.items()):
            metric, _, filt = key.partition(",")
            if metric.endswith("_stderr") or isinstance(value, bool) \
                    or not isinstance(value, (int, float)):
                continue
            se = figures.get(f"{metric}_stderr,{filt}" if filt else f"{metric}_stderr")
            name = f"lm-eval/{task}/{metric}" + (f",{filt}" if filt and filt != "none" else "")
            rows.append(Metric(name, float(value),
                               float(se) if isinstance(se, (int, float)) else float("nan"),
                               n, settings))
    return rows


def main(args) -> int:
    check_args(args)
    import importlib.util
    import json
    import os

    from difflaws.errors import UserError

    if importlib.util.find_spec("lm_eval") is None:
        raise UserError("lm-eval is not installed; pip install 'difflaws[lm-eval]'")
    import lm_eval
    from lm_eval.tasks import TaskManager

    import difflaws.integrations.lm_eval as adapter
    from difflaws.metrics.record import record

    tasks = task_names(args.tasks)
    manager = TaskManager(include_path=args.include_path,
                          include_defaults=not args.no_builtin_tasks)
    unknown = [t for t in tasks if not manager.match_tasks([t])]
    if unknown:
        raise UserError(f"--tasks: unknown task {unknown[0]!r}; see `lm-eval ls tasks`, or pass "
                        "--include-path with the folder of its YAML file")
    model = adapter.DifflawsLM(run_dir=args.run_dir, mc_samples=args.mc_samples,
                               steps=args.steps, seed=args.seed, batch_size=args.batch_size,
                               device=args.device)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    results = lm_eval.simple_evaluate(model=model, tasks=tasks, task_manager=manager,
                                      num_fewshot=args.num_fewshot, limit=args.limit,
                                      random_seed=args.seed, numpy_random_seed=args.seed,
                                      torch_random_seed=args.seed, fewshot_random_seed=args.seed,
                                      log_samples=False)
    settings = {"mc_samples": args.mc_samples, "steps": args.steps,
                "num_fewshot": args.num_fewshot, "limit": args.limit, "seed": args.seed,
                "lm_eval": getattr(lm_eval, "__version__", None)}
    rows = numeric_results(results, settings)
    recorded = False if args.no_record else record(args.run_dir, model.run.step, rows)
    if args.output:
        write_output(args.output, results["results"])
    if args.json:
        print(json.dumps({"run_dir": str(args.run_dir), "step": model.run.step,
                          "results": results["results"], "recorded": recorded},
                         sort_keys=True, default=str))
        return 0
    from lm_eval.utils import make_table

    print(make_table(results))
    return 0


def write_output(path, results: dict) -> None:
    """--output: lm-eval's results as JSON, written whole or not at all."""
    import json

    from difflaws.atomic import write_text
    from difflaws.errors import UserError

    try:
        write_text(path, json.dumps(results, indent=2, sort_keys=True, default=str) + "\n")
    except OSError as exc:
        raise UserError(f"--output {path}: cannot write it ({exc.strerror or exc}); pass a "
                        "writable file path") from None
