"""Loggers: extra places a run's records go (``metrics.jsonl`` and the DB always get them).

A logger kind subclasses :class:`LoggerConfig`.  ``build(run_dir=...)``
receives the run directory; write only inside it.  The built logger has
``log(record: dict)`` (one call per logged step; values are numbers or
None) and ``close()``; subclassing :class:`Logger` gives it the optional
capabilities below, with defaults that do nothing:

* ``start(run: RunStart)``: once, before the first step a run (or a resumed
  run) trains; a dashboard opens its run here.  An error stops the run before
  it trains.
* ``finish(summary: dict)``: once, after a run's last step, with the summary
  written to ``summary.json``.

A logger that raises in ``log``, ``finish`` or ``close`` is reported and switched
off for the rest of the run; the run goes on, and ``metrics.jsonl`` and the DB,
written first, keep every record.  Build fails with a ``UserError`` for what can
be checked before the run starts (a missing optional package, say), so a run
never fails for it later.
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from difflaws.interfaces.component import ComponentConfig


@attrs.frozen(kw_only=True)
class RunStart:
    """What a logger's ``start`` is told about the run."""

    name: str  # the run's name (the spec's ``name``, or its directory's)
    config: dict  # the resolved spec, as nested tables
    toml: str  # the resolved spec as spec.toml holds it
    step: int  # the step training starts from: 0, or the checkpoint a resumed run continues


class Logger:
    """What ``LoggerConfig.build`` returns; ``log`` is the one method to write."""

    def start(self, run: RunStart) -> None:
        pass

    def log(self, record: dict) -> None:
        raise NotImplementedError(f"{type(self).__qualname__} does not implement log()")

    def finish(self, summary: dict) -> None:
        pass

    def close(self) -> None:
        pass


@attrs.frozen(kw_only=True)
class LoggerConfig(ComponentConfig):
    """Logger: receives metrics as a run progresses."""

    category: ClassVar[str] = "logger"

    def build(self, run_dir=None, **context):
        raise NotImplementedError(f"{type(self).__qualname__} does not implement build()")

    def files(self) -> list[str]:
        """The names, relative to the run directory, of the files and folders the logger
        writes; the run refuses to start when one of them is a symbolic link."""
        return []
