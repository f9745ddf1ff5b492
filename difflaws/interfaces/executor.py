"""Executors: run the members of a sweep.

An executor kind subclasses :class:`ExecutorConfig`.  ``build(folder=...)``
receives a folder the executor may use for its own files and returns an
object with

* ``describe(task) -> str``: how a member will run (shown by ``sweep --dry-run``);
* ``run(tasks, on_done=None) -> list[difflaws.sweep.tasks.Outcome]``: run
  every task and return one outcome each, calling ``on_done(outcome)`` as
  each ends.  A task (``difflaws.sweep.tasks.Task``) has ``name``,
  ``run_dir``, ``log`` and ``argv()``, the ``difflaws run`` command line that
  trains the member; re-running it resumes the member.
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from difflaws.interfaces.component import ComponentConfig


@attrs.frozen(kw_only=True)
class ExecutorConfig(ComponentConfig):
    """Executor: runs the members of a sweep."""

    category: ClassVar[str] = "executor"

    def build(self, folder=None, **context):
        raise NotImplementedError(f"{type(self).__qualname__} does not implement build()")
