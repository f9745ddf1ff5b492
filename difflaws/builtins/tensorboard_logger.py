"""The ``tensorboard`` logger: a run's scalars, resolved spec and summary as TensorBoard
event files in its run directory (optional extra: ``pip install 'difflaws[tensorboard]'``).

Each logged step writes every number of its record as a scalar of the same name at that
step.  A run started from step 0 writes the resolved spec as the text ``config`` and as
hyperparameters (dotted keys such as ``train.steps``; the HPARAMS tab lists each run's
scalars as its metrics); the end writes the summary's numbers as ``summary/KEY`` scalars
and the whole summary as the text ``summary``.

A resumed run appends an event file to the same folder, which starts with TensorBoard's
purge marker at the step after its checkpoint: TensorBoard then drops the steps the
stopped run had logged past its checkpoint, and shows the resumed run's values for them,
as metrics.jsonl does.  (A run started over from step 0 hides all it had logged.)
"""

from __future__ import annotations

import json
from pathlib import Path

import attrs

from difflaws import hookimpl
from difflaws.builtins.loggers import plain_name, require, scalars
from difflaws.interfaces import LoggerConfig, key
from difflaws.interfaces.logger import Logger

KIND = "tensorboard"
SUMMARY_PREFIX = "summary/"


def flat(table: dict, prefix: str = "") -> dict:
    """Nested tables as dotted keys; hyperparameters are numbers or strings, so a list
    becomes its JSON text."""
    out = {}
    for name, value in table.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{name}."))
        elif isinstance(value, (bool, int, float, str)):
            out[prefix + name] = value
        elif value is not None:
            out[prefix + name] = json.dumps(value)
    return out


def fenced(text: str, language: str) -> str:
    """Text TensorBoard shows as it is (its text tab renders Markdown)."""
    return f"```{language}\n{text}\n```"


class TensorBoardLogger(Logger):
    def __init__(self, folder: Path):
        self.folder = folder
        self.tensorboard = require("tensorboard", KIND, "torch.utils.tensorboard")
        self.writer = self.session_end = None
        self.step = 0

    def start(self, run) -> None:
        from torch.utils.tensorboard.summary import hparams

        self.step = run.step
        # events at and past the purge step, left by an earlier session, are dropped
        self.writer = self.tensorboard.SummaryWriter(str(self.folder),
                                                     purge_step=run.step + 1 if run.step else 0)
        # no experiment summary: TensorBoard then takes every scalar tag as a metric
        _, session_start, self.session_end = hparams(flat(run.config), {})
        if run.step == 0:
            self.writer.add_text("config", fenced(run.toml, "toml"), global_step=0)
            self.writer.file_writer.add_summary(session_start)
        self.writer.flush()

    def log(self, record: dict) -> None:
        self.step = record["step"]
        for tag, value in scalars(record).items():
            self.writer.add_scalar(tag, value, global_step=self.step)
        self.writer.flush()  # a dashboard is watched live; records are seconds apart or more

    def finish(self, summary: dict) -> None:
        for name, value in scalars(summary).items():
            self.writer.add_scalar(SUMMARY_PREFIX + name, value, global_step=self.step)
        self.writer.add_text("summary", fenced(json.dumps(summary, indent=2, sort_keys=True),
                                               "json"), global_step=self.step)
        self.writer.file_writer.add_summary(self.session_end)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


@attrs.frozen(kw_only=True)
class TensorBoardLoggerConfig(LoggerConfig):
    """TensorBoard event files: every metric per step, the spec and the summary."""

    folder: str = key("tensorboard", validator=plain_name("TensorBoard folder", "tensorboard"),
                      doc="the event files' folder, inside the run directory (tensorboard "
                          "--logdir it, or the folder above many runs)")

    def build(self, run_dir=None, **context):
        return TensorBoardLogger(Path(run_dir) / self.folder)

    def files(self) -> list[str]:
        return [self.folder]


@hookimpl
def difflaws_register_kinds(register):
    register("logger", KIND, TensorBoardLoggerConfig)
