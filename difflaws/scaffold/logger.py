"""Templates of a ``logger`` kind: an extra place a run's logged records go."""

SUMMARY = "Appends every logged record as one JSON line to a file in the run directory"

USAGE = '''
```toml
[[loggers]]
kind = "${kind}"
file = "${kind}.jsonl"
```
'''

PLUGIN = '''
"""The ``${kind}`` logger kind: its config and registration.

The ``difflaws`` entry point names this module and difflaws imports it whenever it
starts, so it stays light: the logger loads inside ``build``.
"""

from __future__ import annotations

from pathlib import Path

import attrs

from difflaws import hookimpl
from difflaws.errors import FieldError, UserError
from difflaws.interfaces import LoggerConfig, key


def _plain_name(instance, attribute, value):
    if not value or "/" in value or "\\\\" in value or value in (".", ".."):
        raise FieldError(attribute.name, f"{value!r} must be a plain file name: a logger "
                                         "writes only inside the run directory")


@attrs.frozen(kw_only=True)
class ${Kind}Config(LoggerConfig):
    """${summary}.

    A resumed run appends to the same file; values that are not finite are written
    as null, so every line is valid JSON.
    """

    file: str = key("${kind}.jsonl", doc="file name inside the run directory",
                    validator=_plain_name)

    def build(self, run_dir=None, **context):
        from ${module}.logger import ${Kind}Logger

        if run_dir is None:
            raise UserError("the ${kind} logger writes into the run directory; "
                            "build it with run_dir=")
        return ${Kind}Logger(Path(run_dir) / self.file)

    def files(self) -> list[str]:
        return [self.file]  # the run refuses to start if it is a symbolic link


@hookimpl
def difflaws_register_kinds(register):
    register("logger", "${kind}", ${Kind}Config)
'''

COMPONENT = "logger.py"

SOURCE = '''
"""The ``${kind}`` logger: ``log(record)`` once per logged step, ``close()`` at the end.

Records map metric names to numbers or None.  ``metrics.jsonl`` and the results DB
get every record anyway; a logger is for somewhere else (a dashboard, a file
format another tool reads).  ``Logger`` also offers ``start(run)`` (before the first
step: the run's name, resolved spec and starting step) and ``finish(summary)``, which
do nothing unless overridden.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from difflaws.interfaces.logger import Logger


class ${Kind}Logger(Logger):
    def __init__(self, path: Path):
        self.path = Path(path)
        self.file = self.path.open("a", encoding="utf-8")

    def log(self, record: dict) -> None:
        # json.dumps writes NaN and Infinity, which JSON readers refuse: write null
        clean = {k: None if isinstance(v, float) and not math.isfinite(v) else v
                 for k, v in record.items()}
        self.file.write(json.dumps(clean) + "\\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()
'''

TEST_IMPORTS = '''
import json

import pytest
'''

TEST_DIFFLAWS = '''
from difflaws.errors import FieldError
'''

TESTS = '''
def test_records_become_json_lines_inside_the_run_directory(host, tmp_path):
    config = host.structure(CATEGORY, {"kind": KIND})
    logger = config.build(run_dir=tmp_path)
    logger.log({"step": 1, "loss": 2.5, "val_nelbo": None})
    logger.log({"step": 2, "loss": float("nan")})
    logger.close()
    resumed = config.build(run_dir=tmp_path)  # a resumed run appends
    resumed.log({"step": 3, "loss": 1.5})
    resumed.close()
    assert [p.name for p in tmp_path.iterdir()] == [config.file]
    lines = (tmp_path / config.file).read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"step": 1, "loss": 2.5, "val_nelbo": None}, {"step": 2, "loss": None},
        {"step": 3, "loss": 1.5}]


@pytest.mark.parametrize("name", ["../escape.jsonl", "logs/x.jsonl", ""])
def test_files_outside_the_run_directory_are_refused(name):
    with pytest.raises(FieldError):
        plugin.${Kind}Config(file=name)
'''
