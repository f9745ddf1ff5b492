"""The hooks a difflaws plugin may implement.

A plugin is a module (or object) carrying functions decorated with
``difflaws.hookimpl`` whose names match the specs below.  Built-in kinds use
exactly these hooks; third-party packages expose theirs through the
``difflaws`` entry-point group::

    [project.entry-points.difflaws]
    my_plugin = "my_package.plugin"

Lifecycle.  ``difflaws.plugins.PluginHost`` imports every plugin once, then
calls its ``difflaws_register_kinds`` and its ``difflaws_register_commands``.
Each plugin's hooks are called on their own, so a plugin that fails while it
loads (its import or a hook raises, even ``SystemExit``; it registers an
invalid kind or command; it registers nothing, as when ``@hookimpl`` is
forgotten) is reported as broken by ``difflaws plugins`` and rolled back
without touching the others.  ``DIFFLAWS_STRICT_PLUGINS=1`` raises instead.
No hook here uses ``firstresult``: every implementation is called.
"""

import pluggy

hookspec = pluggy.HookspecMarker("difflaws")


@hookspec
def difflaws_register_kinds(register):
    """Register the component kinds this plugin provides.

    Called once per plugin, at load time, before any spec is structured.

    ``register(category, kind, config_cls, default=False)`` adds one kind.
    ``category`` is one of ``difflaws.registry.CATEGORIES`` (``"noise"``,
    ``"schedule"``, ``"backbone"``, ...).  ``kind`` is the name a spec uses in
    its ``kind = "..."`` key.  ``config_cls`` is a frozen attrs class that
    subclasses the category's interface in ``difflaws.interfaces`` (for
    example ``NoiseConfig``): the rest of the spec table is structured into
    it, unknown keys are errors, and its ``build(**context)`` method returns
    the component that interface describes.  The first line of its docstring
    is what ``difflaws kinds`` shows.  ``default=True`` makes the kind the one
    a spec gets when it leaves the category's table out.

    Registering a kind that another plugin already registered, a second
    default for a category, or a config that does not subclass its
    interface is an error that disables this plugin (never the one that came
    first).
    """


@hookspec
def difflaws_register_commands(register):
    """Register extra ``difflaws`` sub-commands.

    Called once per plugin when the CLI starts.  ``register(command)`` takes
    an object with ``NAME``, ``HELP``, ``add_arguments(parser)`` and
    ``main(args) -> int`` attributes (a module works), the same shape as the
    built-in commands in ``difflaws/commands/``; ``NAME`` is a lower-case word
    (letters, digits, ``-``).  A command missing one of those disables the
    plugin, like an invalid kind.

    The CLI adds the commands after the built-in ones.  A command whose
    ``NAME`` is taken (by a built-in command or a plugin loaded earlier) or
    whose ``add_arguments`` raises is left out and reported on this plugin;
    its other commands and kinds stay.  An unexpected exception from
    ``main`` is printed as one line naming the plugin, and ``difflaws`` exits
    1; ``difflaws.errors.UserError`` exits 2 with its message, as for any
    command.
    """
