"""``difflaws coordcheck SPEC``: are activations flat across widths and depths under this parameterization?"""

from __future__ import annotations

from pathlib import Path

from difflaws.errors import UserError

NAME = "coordcheck"
HELP = "mean |activation| per layer type over a few steps, across widths and depths (table + plot)"


def _ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) <= 0:
        raise UserError(f"expected positive integers, got {text!r}")
    return values


def add_arguments(parser):
    parser.add_argument("spec", help="path to a TOML spec (its backbone and parameterization are used)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a key, e.g. --set parameterization.kind=standard")
    parser.add_argument("--widths", default="64,128,256,512", help="width sweep (default %(default)s)")
    parser.add_argument("--depths", default="2,4,8,16", help="depth sweep (default %(default)s)")
    parser.add_argument("--steps", type=int, default=4, help="training steps per shape")
    parser.add_argument("--lr", type=float, default=None,
                        help="base learning rate (default: the parameterization's own)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--out", default=None, help="folder for coordcheck.csv and coordcheck.png")


def main(args) -> int:
    import csv

    import attrs

    from difflaws import engine
    from difflaws.model.coordcheck import coord_check, layer_types, plot, slopes
    from difflaws.plugins import default_host

    host = default_host()
    spec = engine.load(args.spec, args.overrides, host=host)
    kind = host.registry.kind_of(spec.parameterization).name
    defaults = spec.parameterization.coordcheck_defaults()
    lr = args.lr if args.lr is not None else float(defaults["lr"])
    vocab = spec.tokenizer.vocab_size or 256
    rows = coord_check(spec.backbone, spec.parameterization, widths=_ints(args.widths),
                       depths=_ints(args.depths), steps=args.steps, lr=lr, vocab_size=vocab,
                       batch_size=args.batch_size, seq_len=args.seq_len, seed=spec.seed)
    out = Path(args.out) if args.out else engine.run_dir_for(spec) / "coordcheck"
    out.mkdir(parents=True, exist_ok=True)
    fields = [f.name for f in attrs.fields(type(rows[0]))]
    with open(out / "coordcheck.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(fields)
        writer.writerows(attrs.astuple(r) for r in rows)
    last = max(r.step for r in rows)
    print(f"{kind}, lr {lr}, {args.steps} steps")
    layers = layer_types(rows)
    print(f"{'sweep':6} {'width':>6} {'depth':>6} " + " ".join(f"{t:>10}" for t in layers))
    for (sweep, width, depth) in dict.fromkeys((r.sweep, r.width, r.depth) for r in rows):
        cells = {r.layer: r.mean_abs for r in rows
                 if (r.sweep, r.width, r.depth, r.step) == (sweep, width, depth, last)}
        print(f"{sweep:6} {width:>6} {depth:>6} " + " ".join(
            f"{cells.get(t, float('nan')):>10.4g}" for t in layers))
    print(f"\nslope of log2 mean|act| vs log2 shape at step {last} (0 = flat):")
    for (sweep, layer), slope in slopes(rows).items():
        print(f"  {sweep:6} {layer:10} {slope:+.3f}")
    plot(rows, out / "coordcheck.png", title=f"{kind}, lr {lr}")
    print(f"\nwrote {out / 'coordcheck.csv'} and {out / 'coordcheck.png'}")
    return 0
