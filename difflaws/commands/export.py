"""``difflaws export RUN_DIR``: one safetensors file with a run's newest weights."""

NAME = "export"
HELP = "write a run's newest weights (single-process or sharded checkpoint) to one safetensors file"


def add_arguments(parser):
    parser.add_argument("run_dir", help="a run directory made by `difflaws run`")
    parser.add_argument("--out", help="output file (default: RUN_DIR/model.safetensors)")


def main(args) -> int:
    from pathlib import Path

    from difflaws.distributed.export import export
    from difflaws.engine import check_spec_file
    from difflaws.errors import UserError
    from difflaws.paths import check_writable_file

    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{args.run_dir} is not a directory; pass the run directory that "
                        "`difflaws run` created")
    check_spec_file(run_dir)  # weights of a run whose spec was edited since would mislead
    out = check_writable_file(args.out or run_dir / "model.safetensors",
                              "--out" if args.out else "RUN_DIR/model.safetensors")
    tmp = out.with_name(f".{out.name}.tmp")  # export's temporary sibling
    try:
        out = export(run_dir, out)
    except OSError as exc:  # a full disk, a vanished directory: leave no partial file
        tmp.unlink(missing_ok=True)
        raise UserError(f"--out: cannot write {out}: {exc.strerror or exc}; free space or "
                        "choose another --out") from None
    print(f"wrote {out}")
    return 0
