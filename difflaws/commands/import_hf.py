"""``difflaws import-hf DIR_OR_REPO --out RUN_DIR``: a GIDD Hugging Face checkpoint as a run.

The run directory it writes works with ``difflaws sample``, ``eval`` and
``export``; docs/hf-interop.md says how each config key is mapped.
"""

NAME = "import-hf"
HELP = ("convert a GIDD checkpoint in the Hugging Face format (a folder, or a hub repository "
        "such as dvruette/gidd-mask-3b) into a run directory")


def add_arguments(parser):
    parser.add_argument("source", metavar="DIR_OR_REPO",
                        help="a folder with config.json and safetensors, or a hub repository "
                             "OWNER/NAME (needs huggingface_hub and a network)")
    parser.add_argument("--out", required=True, metavar="RUN_DIR",
                        help="the run directory to create (new or empty)")
    parser.add_argument("--noise", metavar="KIND",
                        help="the noise kind the model was trained with (e.g. masked, uniform, "
                             "hybrid); needed when config.json has no noise_type")
    parser.add_argument("--noise-option", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting of --noise, e.g. --noise-option shift=2.0")
    parser.add_argument("--tokenizer", metavar="FILE",
                        help="the tokenizer.json to use (default: the one in DIR_OR_REPO)")
    parser.add_argument("--revision", help="a hub repository's branch, tag or commit")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="override a key of the spec written, e.g. --set data.kind=text "
                             "(not the architecture: that is the checkpoint's)")


def main(args) -> int:
    from difflaws.hf.importer import import_checkpoint

    done = import_checkpoint(args.source, args.out, noise=args.noise,
                             noise_options=args.noise_option, tokenizer=args.tokenizer,
                             revision=args.revision, overrides=args.overrides)
    print(f"imported {args.source} into {done['run_dir']} ({done['shape']}, {done['noise']} "
          "noise, checkpoint at step 0)")
    for note in done["notes"]:
        print(f"  note: {note}")
    return 0
