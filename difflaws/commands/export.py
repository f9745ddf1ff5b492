"""``difflaws export RUN_DIR``: one safetensors file with a run's newest weights."""

NAME = "export"
HELP = "write a run's newest weights (single-process or sharded checkpoint) to one safetensors file"


def add_arguments(parser):
    parser.add_argument("run_dir", help="a run directory made by `difflaws run`")
    parser.add_argument("--out", help="output file (default: RUN_DIR/model.safetensors)")


def main(args) -> int:
    from difflaws.distributed.export import export

    out = export(args.run_dir, args.out)
    print(f"wrote {out}")
    return 0
