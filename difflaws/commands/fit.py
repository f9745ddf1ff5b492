"""``difflaws fit SOURCE --law NAME``: fit a scaling law to runs or a CSV."""

import json
import sys

NAME = "fit"
HELP = "fit a scaling law (chinchilla, isoflop, powerlaw, curves, ...) to a CSV, runs or a DB"

EPILOG = """\
SOURCE is a CSV with columns params, tokens, flops, loss (optional: batch_size,
lr, noise, budget, run, step), a run or sweep directory, or a results DB.  A
missing one of params/tokens/flops is derived from C = 6·N·D.  Usual headers
are recognised (Epoch's 'Model Size'/'Training FLOP', Llama 3's
compute_budget/training_tokens/validation_loss); map others with
--columns params="Model Size",flops="Training FLOP".
Law options: -o KEY=VALUE (see `difflaws kinds fitter`), e.g. -o grid=small.
"""


def add_arguments(parser):
    parser.epilog = EPILOG
    parser.add_argument("source", help="CSV file, run or sweep directory, or results DB")
    parser.add_argument("--law", required=True, help="fitter kind, e.g. chinchilla, isoflop")
    parser.add_argument("--by", help="fit separately per value of this column, e.g. noise")
    parser.add_argument("--format", choices=("text", "md", "json"), default=None,
                        help="output: aligned text (default), Markdown tables, or JSON")
    parser.add_argument("--json", action="store_true", help="print the results as JSON "
                        "(the same as --format json)")
    parser.add_argument("--plot", metavar="OUT.png",
                        help="write a figure (PNG, plus a PDF next to it)")
    parser.add_argument("--overlay", metavar="SET,...",
                        help="with --plot: draw these law sets' N*(C), D*(C) over the fitted "
                             "frontier, e.g. chinchilla,llama3 (`difflaws kinds lawset`)")
    parser.add_argument("--points", metavar="OUT.csv",
                        help="also write the points the fit reads as CSV (a study's data to "
                             "commit: fitting OUT.csv later gives the same result)")
    parser.add_argument("--drop-highest", type=int, default=0, metavar="K",
                        help="drop the K points with the highest loss (Epoch's rule: 5)")
    parser.add_argument("--bootstrap", type=int, metavar="N", help="bootstrap replicates")
    parser.add_argument("--seed", type=int, help="bootstrap seed")
    parser.add_argument("--columns", action="append", default=[], metavar="STD=HEADER,...",
                        help="map standard columns to CSV headers")
    parser.add_argument("-o", "--option", dest="options", action="append", default=[],
                        metavar="KEY=VALUE", help="a fitter option, read as a TOML value")


def parse_columns(items) -> dict:
    from difflaws.errors import UserError

    out = {}
    for item in items:
        for part in _split(item):
            key, sep, value = part.partition("=")
            if not sep or not key.strip() or not value.strip():
                raise UserError(f"--columns {part!r}: write it as params=\"Model Size\"")
            out[key.strip()] = value.strip().strip('"').strip("'")
    return out


def _split(text: str):
    """Split on commas outside quotes."""
    parts, cur, quote = [], "", ""
    for ch in text:
        if ch in "\"'" and (not quote or quote == ch):
            quote = "" if quote else ch
        if ch == "," and not quote:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        parts.append(cur)
    return parts


def main(args) -> int:
    import attrs

    from difflaws.fit.api import fitter_config, fitter_kind
    from difflaws.fit.report import comparison, format_comparison, format_result
    from difflaws.fit.result import json_ready
    from difflaws.fit.table import load_points
    from difflaws.plugins import default_host
    from difflaws.errors import UserError
    from difflaws.spec.load import parse_override

    host = default_host()
    options = dict(parse_override(o, "-o") for o in args.options)
    fields = {f.name for f in attrs.fields(fitter_kind(args.law, host).config)}
    for flag, key in ((args.bootstrap, "bootstrap"), (args.seed, "seed")):
        if flag is not None:
            if key not in fields:
                raise UserError(f"--{key}: the {args.law} law has no {key} option")
            options[key] = flag
    config = fitter_config(args.law, host, **options)
    overlay = _overlay(args, host)
    fitter = config.build()
    table = load_points(args.source, parse_columns(args.columns))
    table = table.drop_highest(args.drop_highest)

    if args.points:
        from difflaws.atomic import write_text

        write_text(args.points, table.to_csv())
    fmt = _format(args)
    if args.by:
        results = {str(k): fitter.fit(sub) for k, sub in table.groups(args.by)}
        if fmt == "json":
            print(json.dumps({"law": args.law, "by": args.by,
                              "groups": {k: r.to_dict() for k, r in results.items()},
                              "comparison": json_ready(comparison(results))}, indent=2))
        else:
            if fmt == "text":
                for k, r in results.items():
                    print(format_result(r, f"{args.law} [{args.by}={k}]"))
            print(format_comparison(results, args.by, fmt))
    else:
        results = {None: fitter.fit(table)}
        result = results[None]
        if args.drop_highest:
            result.options["drop_highest"] = args.drop_highest
        if fmt == "json":
            print(json.dumps(result.to_dict(), indent=2))
        elif fmt == "md":  # one fit is a comparison of one group
            print(format_comparison({args.law: result}, "law", "md"))
        else:
            print(format_result(result))
    if args.plot:
        if overlay is not None:  # FitResult.extra carries what the figure draws
            for result in results.values():
                result.extra["overlay"] = overlay
        written = config.figure(results, args.plot)
        if fmt != "json":
            print("wrote " + ", ".join(str(p) for p in written))
        _report_overlay(overlay, args.law)
    return 0


def _format(args) -> str:
    from difflaws.errors import UserError

    if args.json and args.format not in (None, "json"):
        raise UserError(f"--json and --format {args.format} disagree; give one of them")
    return "json" if args.json else args.format or "text"


def _overlay(args, host):
    """The published law sets ``--overlay`` names, checked before anything is fitted."""
    if not args.overlay:
        return None
    from difflaws.errors import UserError
    from difflaws.plan.laws import named_law_sets
    from difflaws.plots.frontier import Overlay

    if not args.plot:
        raise UserError("--overlay draws on the figure; add --plot OUT.png")
    return Overlay(named_law_sets(args.overlay, "--overlay", host))


def _report_overlay(overlay, law: str) -> None:
    if overlay is None:
        return
    if not overlay.drawn:
        overlay.notes.append(f"the {law} figure draws no compute-optimal frontier; "
                             "nothing overlaid")
    for note in overlay.notes:
        print(f"difflaws fit: --overlay: {note}", file=sys.stderr)
