"""``difflaws plugin new NAME --category CATEGORY``: start a plugin package from a template.

The package is complete and installable: a config class registered through the
``difflaws`` entry point, a component that works as generated, and a test that builds
it.  The templates are in ``difflaws.scaffold``.
"""

from pathlib import Path

from difflaws.registry import CATEGORIES

NAME = "plugin"
HELP = "create a plugin package (plugin new NAME --category CATEGORY)"

NEW_HELP = "write an installable plugin package difflaws-NAME that adds one kind"
NEW_EPILOG = """\
The package holds pyproject.toml, README.md, difflaws_NAME/plugin.py (the kind's
config class and the hook registering it), a working component module, and
tests/test_plugin.py.  Install it with `pip install -e DIR/difflaws-NAME`; then
`difflaws plugins` lists it and `difflaws kinds CATEGORY` shows the kind.
"""


def add_arguments(parser):
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    new = actions.add_parser("new", help=NEW_HELP, description=NEW_HELP, epilog=NEW_EPILOG)
    new.add_argument("name", metavar="NAME",
                     help="plugin name: lowercase letters, digits and '-' (package difflaws-NAME, "
                          "module difflaws_NAME)")
    new.add_argument("--category", required=True, metavar="CATEGORY",
                     help=f"what the kind is; one of: {', '.join(CATEGORIES)}")
    new.add_argument("--out", default=".", metavar="DIR",
                     help="folder to create difflaws-NAME in (default: the current folder)")
    new.add_argument("--kind", metavar="KIND",
                     help="the kind's name in specs, `kind = \"KIND\"` (default: NAME)")


def _check_free(category: str, kind: str) -> None:
    """A kind another plugin already registers would disable the new plugin when loaded."""
    from difflaws.errors import UserError
    from difflaws.plugins import default_host

    registry = default_host().registry
    if kind in registry.names(category):
        owner = registry.get(category, kind).plugin
        raise UserError(f"{category} kind {kind!r} is already registered by {owner!r}; "
                        "choose another name with --kind")


def main(args) -> int:
    from difflaws import scaffold

    files = scaffold.render(args.name, args.category, args.kind)
    values = scaffold.names(args.name, args.category, args.kind)
    _check_free(args.category, values["kind"])
    target = Path(args.out) / values["dist"]
    scaffold.write(target, files)
    print(f"created {target}: the {values['category']} kind {values['kind']!r} "
          f"in plugin {values['name']!r}")
    for rel in files:
        print(f"  {target / rel}")
    print("next steps:")
    print(f"  pip install -e {target}")
    print(f"  difflaws plugins            # lists {values['name']} with "
          f"{values['category']}:{values['kind']}")
    print(f"  pytest {target}")
    return 0
