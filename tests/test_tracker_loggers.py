"""The experiment-tracker loggers: what a run leaves for TensorBoard and W&B is what
metrics.jsonl and summary.json hold, read back with each tool's own reader.

* TensorBoard: ``EventAccumulator`` (TensorBoard's own reader, the one its dashboard uses).
* W&B offline: ``wandb leet inspect --json`` prints an offline run's transaction log
  (``run-ID.wandb``) as one JSON object per record; a ``history`` record holds the
  logged values (``item``) and their step (``step.num``).  ``--summary --json`` prints
  the run's config and summary as W&B assembles them.  No network is used: offline
  mode, and W&B's address set to a closed local port.

Runs use the training loop's stand-in components (tests/train_standins.py), so each
takes a fraction of a second.
"""

from __future__ import annotations

import errno
import json
import sqlite3
import subprocess
import sys
import types

import attrs
import numpy as np
import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import train_standins
from difflaws import checkpoint, cli, engine, hookimpl
from difflaws.checkpoint import io as ckpt_io
from difflaws.errors import UserError
from difflaws.interfaces import LoggerConfig
from difflaws.interfaces.logger import Logger, RunStart
from difflaws.plugins import PluginHost, set_default_host
from difflaws.train.trainer import train

SPEC = """
name = "tracked"
seed = 5
[noise]
kind = "standin"
[backbone]
kind = "standin"
[parameterization]
kind = "standin"
[sampler]
kind = "standin"
[optimizer]
kind = "adamw"
lr = 0.01
[data]
kind = "markov"
n_symbols = 8
train_tokens = 4000
val_tokens = 1000
[train]
steps = 12
batch_size = 4
seq_len = 32
warmup_steps = 2
log_every = 2
eval_every = 4
eval_batches = 1
checkpoint_every = 4
"""
TIMING = ("tokens_per_second", "wall_seconds")  # the only figures a resumed run changes


class BrokenLogger(Logger):
    """Fails on its second record; counts what it is asked."""

    calls: list = []

    def log(self, record):
        self.calls.append(record["step"])
        if len(self.calls) == 2:
            raise ConnectionError("dashboard unreachable")

    def close(self):
        self.calls.append("closed")


@attrs.frozen(kw_only=True)
class BrokenLoggerConfig(LoggerConfig):
    """A logger that breaks mid-run."""

    def build(self, run_dir=None, **context):
        return BrokenLogger()


broken_plugin = types.ModuleType("broken_logger_plugin")


@hookimpl
def _register_broken(register):
    register("logger", "broken", BrokenLoggerConfig)


broken_plugin.difflaws_register_kinds = _register_broken


@pytest.fixture(scope="module")
def host():
    h = PluginHost(entry_points=False)
    h.add(train_standins, name="standins")
    h.add(broken_plugin, name="broken")
    return h


@pytest.fixture
def offline_wandb(tmp_path, monkeypatch):
    """W&B as on a machine without network: WANDB_MODE=offline overrides the spec's default
    (online), W&B keeps its own files in the test's folder, and has no server to reach."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    for var in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(var, str(tmp_path / "wandb-home"))
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("WANDB_SILENT", "true")
    for var in ("WANDB_API_KEY", "WANDB_PROJECT", "WANDB_ENTITY", "WANDB_RUN_ID", "WANDB_RESUME"):
        monkeypatch.delenv(var, raising=False)
    return pytest.importorskip("wandb")


def start(tmp_path, host, loggers: str, overrides=()):
    path = tmp_path / "spec.toml"
    path.write_text(SPEC + loggers)
    spec = engine.load(path, list(overrides), host=host)
    return spec, engine.open_run_dir(spec, str(tmp_path / "ws" / "run"), host=host)


def records(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def numeric(values: dict) -> dict:
    return {k: v for k, v in values.items() if k != "step" and isinstance(v, (int, float))}


def tensorboard_scalars(folder) -> dict:
    """tag → [(step, value)] as TensorBoard shows them (what a restart purged left out)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    return acc, {tag: [(e.step, e.value) for e in acc.Scalars(tag)]
                 for tag in acc.Tags()["scalars"]}


def assert_same_scalars(shown: dict, recs: list[dict]) -> None:
    """Every number of every record, at its step, to float32 precision; nothing else."""
    expected = {}
    for rec in recs:
        for tag, value in numeric(rec).items():
            expected.setdefault(tag, []).append((rec["step"], float(np.float32(value))))
    assert shown == expected


def wandb_cli(*args) -> str:
    out = subprocess.run([sys.executable, "-m", "wandb", "leet", "inspect", *map(str, args)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def wandb_history(run_folder) -> list[tuple[int, dict]]:
    lines = wandb_cli("--json", run_folder).splitlines()
    history = [json.loads(line)["history"] for line in lines if '"type":"history"' in line]
    return [(int(h["step"]["num"]), {k: v for k, v in h["item"].items()
                                      if not k.startswith("_")}) for h in history]


def offline_runs(run_dir) -> list:
    """One folder a session, named offline-run-TIME-ID (then -1, -2... within one second)."""
    return sorted((run_dir / "wandb").glob("offline-run-*"))


def without_none(value):
    """A table as TOML holds it: TOML has no null, so spec.toml leaves unset keys out."""
    if isinstance(value, dict):
        return {k: without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_none(v) for v in value]
    return value


# -- TensorBoard ---------------------------------------------------------------------------
def test_tensorboard_event_files_hold_the_metrics_the_spec_and_the_summary(tmp_path, host):
    pytest.importorskip("tensorboard")
    spec, run_dir = start(tmp_path, host, '[[loggers]]\nkind = "tensorboard"\n')
    summary = train(spec, run_dir, quiet=True, host=host)
    acc, shown = tensorboard_scalars(run_dir / "tensorboard")
    recs = records(run_dir)
    assert [r["step"] for r in recs] == [2, 4, 6, 8, 10, 12]
    final = {tag[len("summary/"):]: points for tag, points in shown.items()
             if tag.startswith("summary/")}
    assert final == {k: [(12, float(np.float32(v)))] for k, v in numeric(summary).items()}
    assert_same_scalars({t: p for t, p in shown.items() if not t.startswith("summary/")}, recs)
    # the resolved spec, as text and as hyperparameters
    from tensorboard.plugins.hparams import plugin_data_pb2

    text = acc.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert text == "```toml\n" + (run_dir / "spec.toml").read_text() + "\n```"
    content = acc.SummaryMetadata("_hparams_/session_start_info").plugin_data.content
    hparams = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams
    assert hparams["train.steps"].number_value == 12
    assert hparams["optimizer.lr"].number_value == 0.01
    assert hparams["data.kind"].string_value == "markov"
    written = acc.Tensors("summary/text_summary")[0].tensor_proto.string_val[0].decode()
    assert json.loads(written.removeprefix("```json\n").removesuffix("\n```")) == summary


# -- W&B -----------------------------------------------------------------------------------
def test_wandb_offline_run_holds_the_metrics_the_spec_and_the_summary(tmp_path, host,
                                                                       offline_wandb):
    spec, run_dir = start(tmp_path, host, '[[loggers]]\nkind = "wandb"\nproject = "laws"\n')
    summary = train(spec, run_dir, quiet=True, host=host)
    (folder,) = offline_runs(run_dir)
    state = json.loads((run_dir / "wandb-run.json").read_text())
    assert (folder / f"run-{state['id']}.wandb").is_file() and state["last_step"] == 12
    recs = records(run_dir)
    assert wandb_history(folder) == [(r["step"], numeric(r)) for r in recs]  # full precision
    shown = json.loads(wandb_cli("--summary", "--json", folder))
    assert (shown["run_id"], shown["name"], shown["project"], shown["state"]) == \
        (state["id"], "tracked", "laws", "finished")
    assert {k: shown["summary"][k] for k in summary if summary[k] is not None} == \
        {k: v for k, v in summary.items() if v is not None}
    config = {k: v for k, v in shown["config"].items() if not k.startswith("_")}
    assert without_none(config) == tomllib.loads((run_dir / "spec.toml").read_text())


def test_wandb_mode_from_the_environment_wins_and_is_checked(monkeypatch):
    from difflaws.builtins.wandb_logger import resolved_mode

    monkeypatch.delenv("WANDB_MODE", raising=False)
    assert resolved_mode("disabled") == "disabled"
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert resolved_mode("online") == "offline"
    monkeypatch.setenv("WANDB_MODE", "cloud")
    with pytest.raises(UserError, match="WANDB_MODE='cloud'.*online, offline, disabled"):
        resolved_mode("online")


def test_the_wandb_run_id_is_kept_for_the_same_spec_only(tmp_path, offline_wandb, monkeypatch):
    from difflaws.builtins.wandb_logger import WandbLoggerConfig

    monkeypatch.setenv("WANDB_MODE", "disabled")

    def started(toml: str) -> str:
        logger = WandbLoggerConfig().build(run_dir=tmp_path)
        logger.start(RunStart(name="r", config={}, toml=toml, step=0))
        logger.close()
        return json.loads((tmp_path / "wandb-run.json").read_text())["id"]

    first = started('name = "r"\n')
    assert started('name = "r"\n') == first  # resumed (or restarted): the same W&B run
    assert started('name = "other"\n') != first  # another spec started over: a new one


# -- resuming --------------------------------------------------------------------------------
def test_a_resumed_run_continues_its_tensorboard_folder_and_its_wandb_run(tmp_path, host,
                                                                          offline_wandb,
                                                                          monkeypatch):
    """The first session logs steps 2..8 and fails to save its step-8 checkpoint; the
    resumed one restarts from step 4 and logs 6..12 again.  TensorBoard shows each step
    once, with the resumed values (those of metrics.jsonl); W&B got 2..8 from the first
    session and 10, 12 from the second, in the same W&B run."""
    pytest.importorskip("tensorboard")
    spec, run_dir = start(tmp_path, host, '[[loggers]]\nkind = "tensorboard"\n'
                                          '[[loggers]]\nkind = "wandb"\n')
    real_write = ckpt_io.write_file

    def write(path, data):
        if "step-00000008" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(path, data)

    with monkeypatch.context() as m:
        m.setattr(ckpt_io, "write_file", write)
        with pytest.raises(checkpoint.CheckpointError):
            train(spec, run_dir, quiet=True, host=host)
    first = records(run_dir)
    assert [r["step"] for r in first] == [2, 4, 6, 8]
    wandb_id = json.loads((run_dir / "wandb-run.json").read_text())["id"]
    train(spec, run_dir, quiet=True, host=host)
    recs = records(run_dir)
    assert [r["step"] for r in recs] == [2, 4, 6, 8, 10, 12]

    assert len(list((run_dir / "tensorboard").iterdir())) == 2  # one event file a session
    _, shown = tensorboard_scalars(run_dir / "tensorboard")
    assert_same_scalars({t: p for t, p in shown.items() if not t.startswith("summary/")}, recs)

    sessions = offline_runs(run_dir)
    assert [(s / f"run-{wandb_id}.wandb").is_file() for s in sessions] == [True, True]
    history = [wandb_history(s) for s in sessions]
    assert [[step for step, _ in h] for h in history] == [[2, 4, 6, 8], [10, 12]]
    sent = dict(history[0] + history[1])
    exact = {r["step"]: {k: v for k, v in numeric(r).items() if k not in TIMING} for r in recs}
    assert {s: {k: v for k, v in values.items() if k not in TIMING}
            for s, values in sent.items()} == exact  # the resumed run redid 6, 8 bit for bit
    assert sent[6]["tokens_per_second"] == first[2]["tokens_per_second"]  # sent once, first


# -- failures ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["tensorboard", "wandb"])
def test_a_missing_package_is_exit_2_with_the_install_hint_before_training(tmp_path, host,
                                                                           capsys, monkeypatch,
                                                                           kind):
    monkeypatch.setitem(sys.modules, kind, None)  # import fails as if not installed
    path = tmp_path / "spec.toml"
    path.write_text(SPEC + f'[[loggers]]\nkind = "{kind}"\n')
    out = tmp_path / "ws" / "run"
    set_default_host(host)
    try:
        code = cli.main(["run", str(path), "--out", str(out), "--quiet"])
    finally:
        set_default_host(None)
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    assert f"logger kind '{kind}'" in err and f"pip install 'difflaws[{kind}]'" in err
    assert not (out / "metrics.jsonl").exists() and not (out / "checkpoints").exists()


def test_a_broken_logger_loses_no_record(tmp_path, host, capsys):
    BrokenLogger.calls.clear()
    spec, run_dir = start(tmp_path, host, '[[loggers]]\nkind = "broken"\n'
                                          '[[loggers]]\nkind = "csv"\ncolumns = ["step"]\n')
    summary = train(spec, run_dir, quiet=True, host=host)
    assert summary["steps"] == 12
    err = capsys.readouterr().err
    assert "BrokenLogger failed at step 4" in err and "off for the rest of this run" in err
    assert BrokenLogger.calls == [2, 4, "closed"]  # switched off, then still closed
    steps = [2, 4, 6, 8, 10, 12]
    assert [r["step"] for r in records(run_dir)] == steps
    con = sqlite3.connect(tmp_path / "ws" / "results.sqlite")
    assert [s for (s,) in con.execute("SELECT step FROM metrics ORDER BY step")] == steps
    assert (run_dir / "metrics.csv").read_text().split() == ["step", *map(str, steps)]
