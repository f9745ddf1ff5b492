"""The hooks a difflaws plugin may implement.

A plugin is a module (or object) carrying functions decorated with
``difflaws.hookimpl`` whose names match the specs below.  Built-in kinds use
exactly these hooks; third-party packages expose theirs through the
``difflaws`` entry-point group::

    [project.entry-points.difflaws]
    my_plugin = "my_package.plugin"

Lifecycle.  ``difflaws.plugins.PluginHost`` imports every plugin once, then
calls ``difflaws_register_kinds`` once per plugin, then (for the CLI only)
``difflaws_register_commands``.  Each plugin's hook is called on its own, so
a plugin that raises is reported and rolled back without touching the others.
No hook here uses ``firstresult``: every implementation is called.
"""

import pluggy

hookspec = pluggy.HookspecMarker("difflaws")


@hookspec
def difflaws_register_kinds(register):
    """Register the component kinds this plugin provides.

    Called once per plugin, at load time, before any spec is structured.

    ``register(category, kind, config_cls)`` adds one kind.  ``category`` is
    one of ``difflaws.registry.CATEGORIES`` (``"noise"``, ``"schedule"``,
    ``"backbone"``, ...).  ``kind`` is the name a spec uses in its
    ``kind = "..."`` key.  ``config_cls`` is a frozen attrs class: the rest
    of the spec table is structured into it, unknown keys are errors, and its
    ``build(**context)`` method returns the component.  The first line of its
    docstring is what ``difflaws kinds`` shows.

    Registering a kind that another plugin already registered is an error
    that disables this plugin (never the one that came first).
    """


@hookspec
def difflaws_register_commands(register):
    """Register extra ``difflaws`` sub-commands.

    Called once per plugin when the CLI starts.  ``register(command)`` takes
    an object with ``NAME``, ``HELP``, ``add_arguments(parser)`` and
    ``main(args) -> int`` attributes (a module works), the same shape as the
    built-in commands in ``difflaws/commands/``.
    """
