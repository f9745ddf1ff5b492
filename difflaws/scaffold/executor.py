"""Templates of an ``executor`` kind: runs the members of a sweep."""

SUMMARY = "Runs sweep members one after another on this machine, each as a difflaws run process"

USAGE = '''
In a sweep spec:

```toml
[executor]
kind = "${kind}"
timeout_s = 0.0   # 0: no limit
```
'''

PLUGIN = '''
"""The ``${kind}`` executor kind: its config and registration.

The ``difflaws`` entry point names this module and difflaws imports it whenever it
starts, so it stays light: the executor loads inside ``build``.
"""

from __future__ import annotations

import attrs
from attrs.validators import ge

from difflaws import hookimpl
from difflaws.interfaces import ExecutorConfig, key


@attrs.frozen(kw_only=True)
class ${Kind}Config(ExecutorConfig):
    """${summary}.

    A member stopped at its time limit keeps its checkpoints, so the next
    ``difflaws sweep`` resumes it.
    """

    timeout_s: float = key(0.0, doc="stop a member after this many seconds (0: no limit)",
                           validator=ge(0.0))

    def build(self, folder=None, **context):
        from ${module}.executor import ${Kind}Executor

        return ${Kind}Executor(self.timeout_s)


@hookimpl
def difflaws_register_kinds(register):
    register("executor", "${kind}", ${Kind}Config)
'''

COMPONENT = "executor.py"

SOURCE = '''
"""The ``${kind}`` executor: one ``difflaws run`` child process at a time.

A task (``difflaws.sweep.tasks.Task``) has ``name``, ``run_dir``, ``log`` and
``argv()``, the command line that trains the member (re-running it resumes the
member).  ``run`` returns one ``Outcome`` per task and calls ``on_done`` as each
ends; a member is done when its run directory holds the run's summary.
"""

from __future__ import annotations

import shlex
import subprocess
import time

from difflaws.sweep.tasks import Outcome, state

TIMED_OUT = 124  # the exit status of a member stopped at its time limit, as timeout(1) reports


class ${Kind}Executor:
    def __init__(self, timeout_s: float = 0.0):
        self.timeout_s = timeout_s

    def describe(self, task) -> str:
        return shlex.join(task.argv())

    def run(self, tasks, on_done=None) -> list:
        outcomes = []
        for task in tasks:
            task.log.parent.mkdir(parents=True, exist_ok=True)
            start = time.perf_counter()
            with open(task.log, "ab") as log:
                try:
                    returncode = subprocess.run(task.argv(), stdout=log, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL,
                                                timeout=self.timeout_s or None).returncode
                except subprocess.TimeoutExpired:  # the child was killed
                    returncode = TIMED_OUT
            outcome = Outcome(task.name, returncode, state(task.run_dir), task.log,
                              time.perf_counter() - start)
            outcomes.append(outcome)
            if on_done is not None:
                on_done(outcome)
        return outcomes
'''

TEST_IMPORTS = '''
import pytest
'''

TEST_DIFFLAWS = '''
from difflaws.sweep.tasks import PENDING, Task
'''

TESTS = '''
def test_runs_every_task_in_order_and_reports_each(host, tmp_path):
    executor = host.structure(CATEGORY, {"kind": KIND}).build(folder=tmp_path)
    tasks = [Task("ok", ("--version",), tmp_path / "runs" / "ok", tmp_path / "logs" / "ok.log"),
             Task("bad", ("kinds", "no-such-category"), tmp_path / "runs" / "bad",
                  tmp_path / "logs" / "bad.log")]
    assert executor.describe(tasks[0]).endswith("-m difflaws --version")
    seen = []
    outcomes = executor.run(tasks, on_done=seen.append)
    assert seen == outcomes
    assert [(o.name, o.returncode, o.state) for o in outcomes] == [("ok", 0, PENDING),
                                                                   ("bad", 2, PENDING)]
    assert "difflaws" in tasks[0].log.read_text()
    assert "no-such-category" in tasks[1].log.read_text()
'''
