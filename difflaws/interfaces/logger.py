"""Loggers: extra places a run's records go (``metrics.jsonl`` and the DB always get them).

A logger kind subclasses :class:`LoggerConfig`.  ``build(run_dir=...)``
receives the run directory; write only inside it.  The built logger has
``log(record: dict)`` (one call per logged step; values are numbers or
None) and ``close()``.
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from difflaws.interfaces.component import ComponentConfig


@attrs.frozen(kw_only=True)
class LoggerConfig(ComponentConfig):
    """Logger: receives metrics as a run progresses."""

    category: ClassVar[str] = "logger"

    def build(self, run_dir=None, **context):
        raise NotImplementedError(f"{type(self).__qualname__} does not implement build()")

    def files(self) -> list[str]:
        """The file names, relative to the run directory, that the logger writes; the run
        refuses to start when one of them is a symbolic link."""
        return []
