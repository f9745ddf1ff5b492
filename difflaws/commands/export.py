"""``difflaws export RUN_DIR``: a run's newest weights, as one safetensors file or a GIDD folder."""

NAME = "export"
HELP = ("write a run's newest weights (single-process or sharded checkpoint) to one "
        "safetensors file, or with --format hf to a GIDD Hugging Face folder")
FORMATS = ("safetensors", "hf")
HF_DEFAULT_OUT = "hf-export"


def add_arguments(parser):
    from difflaws.hf.weight_files import DTYPE_NAMES

    parser.add_argument("run_dir", help="a run directory made by `difflaws run` or "
                                        "`difflaws import-hf`")
    parser.add_argument("--format", choices=FORMATS, default=FORMATS[0],
                        help="safetensors: difflaws's own names, one file; hf: config.json + "
                             "model.safetensors with the GIDD authors' names "
                             "(docs/hf-interop.md)")
    parser.add_argument("--out", help="output file (default: RUN_DIR/model.safetensors); with "
                                      "--format hf a new folder (default: "
                                      f"RUN_DIR/{HF_DEFAULT_OUT})")
    parser.add_argument("--dtype", choices=DTYPE_NAMES, default="auto",
                        help="--format hf: the tensors' dtype (auto: as the checkpoint stores "
                             "them)")


def main(args) -> int:
    from pathlib import Path

    from difflaws.errors import UserError

    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{args.run_dir} is not a directory; pass the run directory that "
                        "`difflaws run` created")
    if args.format == "hf":
        return export_hf(args, run_dir)
    if args.dtype != "auto":
        raise UserError(f"--dtype {args.dtype}: only --format hf converts dtypes; drop it")
    return export_safetensors(args, run_dir)


def export_hf(args, run_dir) -> int:
    from difflaws.hf.exporter import export_hf as write

    done = write(run_dir, args.out or run_dir / HF_DEFAULT_OUT, args.dtype)
    print(f"wrote {done['out']} (step {done['step']}, {done['dtype']}: "
          f"{', '.join(done['files'])})")
    for note in done["notes"]:
        print(f"  note: {note}")
    return 0


def export_safetensors(args, run_dir) -> int:
    from difflaws.distributed.export import export
    from difflaws.engine import check_spec_file
    from difflaws.errors import UserError
    from difflaws.paths import check_writable_file

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
