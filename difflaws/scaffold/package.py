"""The files every generated plugin package has, whatever its category.

``${summary}``, ``${usage}``, ``${component}``, ``${test_imports}``,
``${difflaws_imports}`` and ``${tests}`` come from the category's templates (see
``difflaws.scaffold``).
"""

PYPROJECT = '''
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "${dist}"
version = "0.1.0"
description = "difflaws plugin: the ${kind} ${category} kind"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["difflaws>=${requires}"]

# The entry-point name is the plugin name `difflaws plugins` shows.
[project.entry-points.difflaws]
${name} = "${module}.plugin"

[tool.setuptools]
packages = ["${module}"]

[tool.pytest.ini_options]
testpaths = ["tests"]
pythonpath = ["."]
'''

README = '''
# ${dist}

A difflaws plugin that adds the `${kind}` ${category} kind: ${summary}.

```bash
pip install -e .
difflaws plugins             # lists "${name}" with its kind ${category}:${kind}
difflaws kinds ${category}   # shows ${kind} and its keys
pytest                       # the plugin's own tests
```

## Use

${usage}

## Layout

- `${module}/plugin.py`: the config class, whose fields are the kind's keys and whose
  docstring's first line is what `difflaws kinds` shows, and the hook that registers
  it. The `difflaws` entry point in `pyproject.toml` names this module. It is imported
  whenever difflaws starts, so it stays light: torch and the component load inside
  `build()`.
- `${module}/${component}`: the component `build()` returns, imported only when a
  spec or command uses the kind. What it must provide is documented in
  `difflaws.interfaces.${category}`.
- `tests/test_plugin.py`: registers the plugin into a private host, builds the kind
  and checks what it does.

Set `DIFFLAWS_STRICT_PLUGINS=1` to see the full traceback of a plugin that fails to
load, and `DIFFLAWS_LOAD_PLUGINS=${name}` to load no other third-party plugin.
Pin the plugin in the specs that use it, so their runs record its version:

```toml
required_plugins = ["${dist}>=0.1"]
```
'''

INIT = '''
"""${dist}: a difflaws plugin.

It adds the ``${kind}`` ${category} kind; see plugin.py.
"""

__version__ = "0.1.0"
'''

TEST = '''
"""${dist}'s own tests.

The ${kind} kind registers through a private host, and the ${category} it builds
does what it should.
"""

${test_imports}

${difflaws_imports}

import ${module}.plugin as plugin

CATEGORY, KIND = "${category}", "${kind}"


@pytest.fixture(scope="module")
def host():
    host = PluginHost(entry_points=False)  # built-ins only: nothing else installed leaks in
    record = host.add(plugin, name="${name}")
    assert record.ok, record.error
    set_default_host(host)  # defaults (a noise schedule, a parameterization) come from it too
    yield host
    set_default_host(None)


def test_the_kind_is_registered_with_a_summary(host):
    kind = host.registry.get(CATEGORY, KIND)
    assert kind.plugin == "${name}"
    assert kind.summary  # the docstring's first line, shown by `difflaws kinds`


${tests}
'''
