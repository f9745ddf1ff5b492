"""``difflaws validate SPEC``: check a spec and print it fully resolved."""

import json

from difflaws import engine
from difflaws.data.pool import planned
from difflaws.plugins import default_host
from difflaws.spec import resolved_toml

NAME = "validate"
HELP = "check a spec and print it with every default filled in"


def add_arguments(parser):
    parser.add_argument("spec", help="path to a TOML spec")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a key, e.g. --set noise.shift=2.0")
    parser.add_argument("--json", action="store_true",
                        help="print the resolved spec, the backbone's figures and (with "
                             "data.unique_tokens set) the training pool as JSON")


def main(args) -> int:
    host = default_host()
    spec = engine.load(args.spec, args.overrides, host=host)
    pool = planned(spec)  # refuses a data.unique_tokens the spec alone shows is too short
    if args.json:
        # the pool of an uncapped run is the whole split: not known before the data is built
        extra = {"data_pool": pool} if pool is not None else {}
        print(json.dumps({"spec": host.converter.unstructure(spec), **engine.figures(spec),
                          **extra}, indent=2, default=str))
    else:
        print(resolved_toml(spec, host), end="")
    return 0
