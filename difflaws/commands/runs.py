"""``difflaws runs [DB_OR_DIR]``: list, filter and compare the runs of a results DB."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import attrs

NAME = "runs"
HELP = "list, filter and compare the runs of a results DB, with the spec diff of two runs"

#: the listing's figures per run, as --format json and csv give them
KEYS = ("run", "name", "status", "family", "objective", "noise", "params", "shape", "tokens",
        "step", "steps", "val_nelbo", "val_nelbo_stderr", "wall_seconds")
#: the text and Markdown columns: (header, right-aligned)
COLUMNS = (("run", False), ("status", False), ("family", False), ("params", True),
           ("shape", False), ("tokens", True), ("steps", True), ("val NELBO ± s.e.", True),
           ("wall", True))
DB_SUFFIXES = (".db", ".sqlite", ".sqlite3")

EPILOG = f"""\
DB_OR_DIR is a results DB, a sweep or workspace directory (its results.sqlite)
or a run directory (that run, from its workspace's DB); by default the DB of
the spec's default out_dir.  --where and --sort take a column ({', '.join(KEYS)}),
any column of the DB's runs table (lr, seed, batch_size, ...), or a key path of
the run's resolved spec (optimizer.lr, train.steps, ...).  Values are TOML
literals; a bare word is a string: --where status=finished --where optimizer.lr=0.3.
"""


def add_arguments(parser):
    parser.epilog = EPILOG
    parser.add_argument("source", nargs="?", metavar="DB_OR_DIR",
                        help="results DB, sweep or run directory (default: the default "
                             "out_dir's results.sqlite)")
    parser.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                        help="keep the runs whose KEY is VALUE (repeatable: all must hold)")
    parser.add_argument("--sort", metavar="KEY", help="order by this key (default: run id)")
    parser.add_argument("--reverse", action="store_true", help="with --sort: largest first")
    parser.add_argument("--limit", type=int, metavar="N", help="show at most N runs")
    parser.add_argument("--format", choices=("text", "md", "json", "csv"), default="text",
                        help="aligned text (default), Markdown, JSON or CSV")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--compare", nargs=2, metavar=("RUN_A", "RUN_B"),
                       help="the two runs' rows and their spec diff (ids or run directories)")
    which.add_argument("--diff", nargs=2, metavar=("RUN_A", "RUN_B"),
                       help="only the spec diff of two runs: - RUN_A, + RUN_B")


@attrs.frozen
class Run:
    """One run: its listing's figures, its row of the ``runs`` table, its resolved spec
    flattened to key paths."""

    fields: dict
    row: dict
    spec: dict

    def get(self, key: str):
        for table in (self.fields, self.row, self.spec):
            if key in table:
                return table[key]
        return None


def main(args) -> int:
    from difflaws.errors import UserError

    pair = args.compare or args.diff
    if pair and (args.where or args.sort or args.limit is not None):
        raise UserError("--where, --sort and --limit select runs to list; --compare and "
                        "--diff name their two runs: drop one or the other")
    if pair and args.format == "csv":
        raise UserError("--format csv lists runs; with --compare or --diff use text, md "
                        "or json")
    if args.limit is not None and args.limit < 0:
        raise UserError(f"--limit {args.limit}: give a number of runs, 0 or more")
    db_path, only = locate(args.source, pair or ())
    from difflaws.store.db import ResultsDB

    with ResultsDB(db_path) as db:
        if pair:
            return compare(db, db_path, [run_id_of(p) for p in pair], args)
        runs = listing(db, None if only is None else {only})
    if not runs:
        print(f"difflaws runs: no runs in {db_path}", file=sys.stderr)
        return 0
    chosen = select(runs, args.where, args.sort, args.reverse, args.limit)
    if not chosen:
        print(f"difflaws runs: no run of {db_path} matches {' '.join(args.where)}",
              file=sys.stderr)
    if chosen or args.format in ("json", "csv"):
        print(render_runs(chosen, args.format))
    return 0


# -- where the runs are ---------------------------------------------------------------------
def locate(source, runs=()) -> tuple[Path, str | None]:
    """The results DB that ``source`` names, and the one run it stands for when it is a run
    directory.  Without ``source``: the workspace of the first run directory in ``runs``,
    else the DB of the spec's default ``out_dir``."""
    from difflaws.errors import UserError
    from difflaws.rundir import SPEC_FILE
    from difflaws.store.db import DB_FILE

    if source is None:
        held = [Path(r) for r in runs if (Path(r) / SPEC_FILE).is_file()]
        source = held[0].resolve().parent if held else Path(default_out_dir())
    path = Path(source)
    fix = f"pass a {DB_FILE}, a sweep directory or a run directory"
    if path.is_file():
        if path.suffix.lower() not in DB_SUFFIXES:
            raise UserError(f"{path}: not a results DB (its name ends in none of "
                            f"{', '.join(DB_SUFFIXES)}); {fix}")
        return path, None
    if (path / DB_FILE).is_file():
        return path / DB_FILE, None
    if (path / SPEC_FILE).is_file():
        workspace = path.resolve().parent / DB_FILE
        if not workspace.is_file():
            raise UserError(f"{path} is a run directory, but its workspace has no results DB "
                            f"({workspace}); {fix}")
        return workspace, path.resolve().name
    where = "no such file or directory" if not path.exists() else f"no {DB_FILE} in it"
    raise UserError(f"{path}: {where}; {fix} (the DB is written by `difflaws run` and "
                    "`difflaws sweep`)")


def default_out_dir() -> str:
    from difflaws.spec.model import Spec

    return attrs.fields(Spec).out_dir.default


def run_id_of(text: str) -> str:
    """A run id, or a run directory's (its name in its workspace)."""
    from difflaws.rundir import SPEC_FILE

    path = Path(text)
    return path.resolve().name if (path / SPEC_FILE).is_file() else text


# -- the listing ----------------------------------------------------------------------------
def listing(db, only=None) -> list[Run]:
    """The runs of ``db`` (``only``: those with these ids), by run id."""
    from difflaws.plugins import default_host
    from difflaws.spec.diff import flatten

    host = default_host()
    out = []
    for row in db.runs():
        if only is not None and row["run_id"] not in only:
            continue
        spec = db.spec(row["run_id"]) or {}
        val = row.get("final_val_nelbo")
        fields = {
            "run": row["run_id"], "name": row.get("name"), "status": row.get("status"),
            "family": row.get("noise_label") or row.get("objective_kind"),
            "objective": row.get("objective_kind"), "noise": row.get("noise_kind"),
            "params": row.get("non_embedding_params"), "shape": shape_of(spec, row, host),
            "tokens": row.get("tokens"), "step": row.get("last_step"), "steps": row.get("steps"),
            "val_nelbo": val,
            "val_nelbo_stderr": db.last_val_stderr(row["run_id"]) if val is not None else None,
            "wall_seconds": row.get("wall_seconds"),
        }
        out.append(Run(fields, row, flatten(spec)))
    return out


def shape_of(spec: dict, row: dict, host) -> str:
    """The backbone's shape name, as its figures give it ("" when they give none)."""
    try:
        backbone = host.structure("backbone", spec["backbone"])
        return str(backbone.figures(row.get("vocab_size"), row.get("seq_len") or 1)
                   .get("shape") or "")
    except Exception:  # a backbone whose plugin is not loaded still lists, without a shape
        return ""


# -- choosing runs --------------------------------------------------------------------------
def select(runs: list[Run], where, sort, reverse: bool, limit) -> list[Run]:
    """The runs that match every ``--where``, in ``--sort`` order, at most ``limit``."""
    from difflaws.spec.load import parse_override

    valid = known_keys(runs)
    for item in where:
        key, wanted = parse_override(item, "--where")
        check_key(key, valid, "--where")
        text = item.partition("=")[2].strip()
        runs = [r for r in runs if matches(r.get(key), wanted, text)]
    if sort:
        check_key(sort, valid, "--sort")
        present = [r for r in runs if r.get(sort) is not None]
        present.sort(key=lambda r: order(r.get(sort)), reverse=reverse)
        runs = present + [r for r in runs if r.get(sort) is None]  # unknowns last either way
    return runs if limit is None else runs[:limit]


def known_keys(runs: list[Run]) -> set:
    return {k for r in runs for table in (r.fields, r.row, r.spec) for k in table}


def check_key(key: str, valid: set, flag: str) -> None:
    from difflaws.errors import UserError
    from difflaws.registry import did_you_mean

    if key not in valid:
        hint = did_you_mean(key, sorted(valid))
        raise UserError(f"{flag} {key}: no such key; use a column ({', '.join(KEYS)}), a "
                        "column of the DB's runs table (lr, seed, batch_size, ...) or a key "
                        f"path of the runs' specs (e.g. optimizer.lr){hint}")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def matches(actual, wanted, text: str) -> bool:
    """Numbers compare as numbers (8 matches 8.0); a string also matches the text as
    typed, so ``name=007`` finds the run named "007"."""
    if _number(actual) and _number(wanted):
        return float(actual) == float(wanted)
    if isinstance(actual, str) and actual == text:
        return True
    return isinstance(actual, bool) == isinstance(wanted, bool) and actual == wanted


def order(value) -> tuple:
    return (0, float(value), "") if _number(value) else (1, 0.0, str(value))


# -- output ---------------------------------------------------------------------------------
def render_runs(runs: list[Run], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([r.fields for r in runs], indent=2)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(KEYS)
        writer.writerows([["" if r.fields[k] is None else r.fields[k] for k in KEYS]
                          for r in runs])
        return out.getvalue().rstrip("\n")
    from difflaws.tables import aligned, markdown

    table = [[header for header, _ in COLUMNS], *(cells_of(r.fields) for r in runs)]
    right = [right for _, right in COLUMNS]
    return markdown(table, right) if fmt == "md" else aligned(table, right)


def cells_of(f: dict) -> list[str]:
    val, se = f["val_nelbo"], f["val_nelbo_stderr"]
    nelbo = "" if val is None else f"{val:.4f}" + ("" if se is None else f" ± {se:.4f}")
    steps = "" if f["steps"] is None else f"{f['step'] or 0}/{f['steps']}"
    return [f["run"], f["status"] or "", f["family"] or "", short(f["params"]), f["shape"],
            short(f["tokens"]), steps, nelbo, duration(f["wall_seconds"])]


def short(n) -> str:
    """A count in three significant figures: 12672 → 12.7k, 1.2e6 → 1.2M."""
    if n is None:
        return ""
    for size, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= size:
            return f"{n / size:.3g}{unit}"
    return str(n)


def duration(seconds) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{sec:02d}s"


# -- two runs -------------------------------------------------------------------------------
def compare(db, db_path, ids: list[str], args) -> int:
    """``--compare``: both rows, then the spec diff; ``--diff``: the diff alone."""
    from difflaws.errors import UserError
    from difflaws.spec.diff import diff_records, format_diff, spec_diff

    runs = {r.fields["run"]: r for r in listing(db, set(ids))}
    missing = [i for i in ids if i not in runs]
    if missing:
        have = [row["run_id"] for row in db.runs()]
        shown = ", ".join(have[:10]) + (f" ... ({len(have)} in all)" if len(have) > 10 else "")
        raise UserError(f"no run {' or '.join(missing)} in {db_path} (runs: {shown or 'none'}); "
                        "give a run id that `difflaws runs` lists, or a run directory")
    specs = [db.spec(i) for i in ids]
    for i, spec in zip(ids, specs):
        if spec is None:
            raise UserError(f"run {i} has no stored spec in {db_path}; re-open the DB from "
                            "the run directories (move it aside: the next run rebuilds it)")
    changes = spec_diff(*specs)
    pair = [runs[i] for i in ids]
    if args.format == "json":
        out = {"diff": diff_records(changes)}
        print(json.dumps({"runs": [r.fields for r in pair], **out} if args.compare else out,
                         indent=2))
        return 0
    lines = format_diff(changes) or [f"the specs of {ids[0]} and {ids[1]} are the same"]
    if args.compare:
        print(render_runs(pair, args.format) + "\n")
        print(f"spec diff (- {ids[0]}, + {ids[1]}):")
    print("\n".join(lines) if args.format == "text" else "```diff\n" + "\n".join(lines)
          + "\n```")
    return 0
