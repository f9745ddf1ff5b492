"""The ``wandb`` logger: one Weights & Biases run per difflaws run (optional extra:
``pip install 'difflaws[wandb]'``).

Each logged step logs every number of its record at that step; the resolved spec is the
W&B run's config and the summary its summary.  The W&B run's id is kept in the run
directory (``wandb-run.json``, with the spec's sha256 and the last step sent), so a
resumed difflaws run continues the same W&B run, and a different spec started over in
the directory (``run --force``) gets a new one.  W&B takes each step once and refuses
steps that go back, so the steps a stopped run had logged past its checkpoint keep
the values W&B got first (a resumed run repeats them exactly but for timings) and
are not sent again.

``mode = "offline"`` (or ``WANDB_MODE=offline``, which wins over the spec) needs no
network: each session writes ``RUN_DIR/wandb/offline-run-TIME-ID/``, and
``wandb sync RUN_DIR/wandb/offline-run-*`` uploads them later as one W&B run.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path

import attrs
from attrs.validators import deep_iterable, in_, instance_of, optional

from difflaws import atomic, hookimpl
from difflaws.builtins.loggers import plain_name, require, scalars
from difflaws.errors import UserError
from difflaws.interfaces import LoggerConfig, key
from difflaws.interfaces.logger import Logger

KIND = "wandb"
STATE_FILE = "wandb-run.json"
WANDB_FOLDER = "wandb"  # what W&B creates inside the folder it is given
MODES = ("online", "offline", "disabled")
MODE_ENV = "WANDB_MODE"


def resolved_mode(spec_mode: str) -> str:
    """WANDB_MODE when set (one switch for a machine without network), else the spec's."""
    mode = os.environ.get(MODE_ENV) or spec_mode
    if mode not in MODES:
        raise UserError(f"{MODE_ENV}={mode!r} is not a W&B mode the wandb logger runs in; set "
                        f"it to one of {', '.join(MODES)}, or unset it")
    return mode


class WandbLogger(Logger):
    def __init__(self, config: "WandbLoggerConfig", run_dir: Path):
        self.wandb = require("wandb", KIND)
        self.config, self.run_dir = config, run_dir
        self.mode = resolved_mode(config.mode)
        self.run = None
        self.state: dict = {}
        self.finished = False

    def start(self, run) -> None:
        digest = hashlib.sha256(run.toml.encode("utf-8")).hexdigest()
        state = self.read_state()
        if state.get("spec_sha256") != digest:
            state = {"id": secrets.token_hex(6), "spec_sha256": digest, "last_step": -1}
        folder = self.run_dir / (self.config.dir or "")
        folder.mkdir(exist_ok=True)
        c = self.config
        try:
            self.run = self.wandb.init(
                project=c.project, entity=c.entity, name=c.name or run.name, group=c.group,
                tags=list(c.tags) or None, mode=self.mode, dir=str(folder.resolve()),
                id=state["id"], resume="allow", config=run.config,
                # difflaws's own stdout (--json records) and stderr stay as they are
                settings=self.wandb.Settings(console="off"))
        except Exception as exc:
            raise UserError(f"the wandb logger could not start W&B run {state['id']} in mode "
                            f"{self.mode!r} ({type(exc).__name__}: {exc}); without a network or "
                            f"a login, set mode = \"offline\" in its [[loggers]] entry or "
                            f"{MODE_ENV}=offline, and `wandb sync` the run later") from None
        self.state = state
        self.write_state()

    def log(self, record: dict) -> None:
        step = record["step"]
        if step <= self.state["last_step"]:  # sent before the run stopped; W&B has it
            return
        # committed now: an open row would land after the summary and overwrite its keys
        self.run.log(scalars(record), step=step, commit=True)
        self.state["last_step"] = step
        self.write_state()

    def finish(self, summary: dict) -> None:
        self.run.summary.update({k: v for k, v in summary.items() if v is not None})
        self.finished = True

    def close(self) -> None:
        if self.run is not None:
            # a run that stopped or failed shows as failed until it is resumed
            self.run.finish(exit_code=0 if self.finished else 1)
            self.run = None

    def read_state(self) -> dict:
        try:
            state = json.loads((self.run_dir / STATE_FILE).read_text())
        except (OSError, ValueError):
            return {}
        return state if isinstance(state, dict) and isinstance(state.get("id"), str) \
            and isinstance(state.get("last_step"), int) else {}

    def write_state(self) -> None:
        atomic.write_json(self.run_dir / STATE_FILE, self.state)


@attrs.frozen(kw_only=True)
class WandbLoggerConfig(LoggerConfig):
    """A Weights & Biases run: every metric per step, the spec, the summary."""

    project: str | None = key(None, validator=optional(instance_of(str)),
                              doc="the W&B project; default: WANDB_PROJECT, else W&B's own")
    entity: str | None = key(None, validator=optional(instance_of(str)),
                             doc="the W&B team or user; default: WANDB_ENTITY, else yours")
    name: str | None = key(None, validator=optional(instance_of(str)),
                           doc="the W&B run's display name; default: the run's name")
    group: str | None = key(None, validator=optional(instance_of(str)),
                            doc="the W&B group, to view a sweep's runs together")
    tags: list[str] = key(factory=list, validator=deep_iterable(instance_of(str)),
                          doc="the W&B run's tags")
    mode: str = key("online", validator=in_(MODES),
                    doc="offline: no network, `wandb sync` later; WANDB_MODE, if set, wins")
    dir: str | None = key(None, validator=optional(plain_name("W&B folder", "tracking")),
                          doc="the folder W&B writes its wandb/ folder in, inside the run "
                              "directory; default: the run directory")

    def build(self, run_dir=None, **context):
        return WandbLogger(self, Path(run_dir))

    def files(self) -> list[str]:
        return [STATE_FILE, self.dir or WANDB_FOLDER]


@hookimpl
def difflaws_register_kinds(register):
    register("logger", KIND, WandbLoggerConfig)
