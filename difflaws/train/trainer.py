"""The training loop behind ``difflaws run``.

Everything a step depends on (weights, optimizer moments, the noise RNG, the
data position, the LR-schedule step and the partial log window) is in the
checkpoint, so a killed run that is re-run continues with the very same
numbers it would have produced uninterrupted (bitwise on CPU in fp32).

A run holds its run directory's lock (:mod:`difflaws.rundir`) throughout, and stops
cleanly on SIGTERM, SIGINT or SIGUSR1 (:mod:`difflaws.signals`): the step in progress
finishes, a checkpoint is saved, the run is marked ``interrupted`` and
:class:`~difflaws.signals.Stopped` is raised.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sqlite3
import time
from pathlib import Path

import numpy as np
import torch

from difflaws import atomic, checkpoint, engine, rundir
from difflaws.data.packing import unigram_entropy
from difflaws.data.pool import coverage
from difflaws.distributed.quiet import SilentDB, SilentLog
from difflaws.distributed.strategy import strategy_for
from difflaws.engine import METRICS_FILE, SUMMARY_FILE
from difflaws.optim.schedule import apply_lr, wsd_multiplier
from difflaws.plugins import default_host
from difflaws.spec import resolved_toml
from difflaws.errors import UserError
from difflaws.interfaces.logger import RunStart
from difflaws.signals import Stopped, stop_requests
from difflaws.store import workspace_db
from difflaws.store.db import DatabaseFull
from difflaws.store.rebuild import summary_columns
from difflaws.train.evaluate import VAL_KEYS, evaluate, final_evaluation, val_record
from difflaws.train.metrics import MetricsLog, Window, clean, console, report
from difflaws.train.setup import build_data, build_objective, field

# Fault-injection hook for the kill-and-resume test: seconds to sleep after each step.
STEP_SLEEP_ENV = "DIFFLAWS_TEST_STEP_SLEEP"


class TrainingDiverged(UserError):
    """A non-finite loss or gradient; the last good checkpoint is kept."""


def train(spec, run_dir, quiet: bool = False, json_lines: bool = False, resume: bool = False,
          host=None) -> dict:
    """Train (or continue training) ``spec`` in ``run_dir``; returns the run summary.

    Raises :class:`~difflaws.signals.Stopped` when a signal stopped the run (its
    checkpoint saved, the run marked ``interrupted``)."""
    host = host or default_host()
    run_dir = Path(run_dir)
    with rundir.hold(run_dir), stop_requests() as stop:
        rundir.refuse_links(run_dir, engine.logger_files(spec))
        try:
            run = Run(spec, run_dir, host, quiet=quiet, json_lines=json_lines, stop=stop)
        except BaseException:
            forget_failed_start(spec, run_dir, host)
            raise
        try:
            return run.go(resume)
        except TrainingDiverged:
            raise
        except BaseException as exc:
            if isinstance(exc, Stopped) and exc.step is None:  # a forced stop
                exc.step, exc.run_dir, exc.main = run.step, run_dir, run.dist.is_main
            status = "interrupted" if isinstance(exc, (KeyboardInterrupt, Stopped)) else "failed"
            run.mark(status)
            raise
        finally:
            run.close()


def forget_failed_start(spec, run_dir: Path, host) -> None:
    """A run that failed before training (a tokenizer that cannot load, bad data) leaves
    nothing that blocks the corrected command: its spec files go when the directory holds
    no checkpoint and no metrics (nothing to resume, nothing lost)."""
    try:
        if checkpoint.io.listing(run_dir) or (run_dir / METRICS_FILE).exists():
            return
        if engine.file_differs(run_dir / engine.SPEC_FILE, resolved_toml(spec, host)):
            return  # not ours
        for name in (engine.SPEC_HASH_FILE, engine.SPEC_FILE, engine.PROVENANCE_FILE):
            rundir.remove(run_dir / name)
    except Exception:  # never mask the error that stopped the run
        pass


def autocast_for(precision: str, device: torch.device):
    if precision == "bf16":
        return lambda: torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext


class Run:
    def __init__(self, spec, run_dir: Path, host, quiet: bool, json_lines: bool, stop=None):
        self.spec, self.run_dir, self.host = spec, run_dir, host
        self.quiet, self.json_lines = quiet, json_lines
        self.stop = stop
        self.stop_votes = 0.0  # ranks that asked to stop, summed with the step's loss
        self.stop_signal = 0  # the signal they got (their mean signal number)
        self.registered = False
        t = self.cfg = spec.train
        # the strategy (difflaws.distributed) is the one place one process and many differ
        self.dist = strategy_for(spec)
        self.device = self.dist.device
        torch.manual_seed(spec.seed)
        with self.dist.main_first():  # rank 0 fills the token cache, the others read it
            self.data = build_data(spec, run_dir)
        self.tokenizer = self.data.tokenizer
        self.objective = build_objective(spec, self.tokenizer)
        self.model = self.dist.build_model(spec, self.tokenizer.vocab_size)
        self.optimizer = spec.optimizer.build(self.model.named_parameters(),
                                              self.model.param_records())
        self.forward = self.dist.wrap(self.model, compile=t.compile)
        self.autocast = autocast_for(t.precision, self.device)
        # its own stream, not the init generator's (both derive from spec.seed)
        noise_seed = int(np.random.SeedSequence([spec.seed, 1]).generate_state(1)[0])
        self.noise_gen = torch.Generator(device=self.device).manual_seed(noise_seed)
        self.figures = engine.figures(spec) or {}
        self.window = Window()
        self.step, self.wall_before = 0, 0.0
        if self.dist.is_main:  # only rank 0 writes metrics, the DB and progress
            # the components built: only now does the run directory get its spec files
            engine.write_spec(spec, run_dir, host, extra={"registration": self.registration()})
            self.db, self.run_id = workspace_db(run_dir)
            loggers = [cfg.build(run_dir=run_dir) for cfg in spec.loggers]
            self.log = MetricsLog(run_dir, self.db, self.run_id, loggers, json_lines)
        else:
            self.db, self.run_id, self.log = SilentDB(), None, SilentLog()

    # -- bookkeeping ---------------------------------------------------------
    def kind(self, config) -> str | None:
        try:
            return self.host.registry.kind_of(config).name
        except KeyError:  # a config built by hand, not through the registry
            return None

    def registration(self) -> dict:
        """The run's row in the results DB, but its status and progress (also kept in
        provenance.json, from which a damaged DB is rebuilt)."""
        s, t, f = self.spec, self.cfg, self.figures
        return dict(
            name=s.name, run_dir=str(self.run_dir.resolve()),
            objective_kind=self.kind(s.objective),
            noise_kind=self.kind(s.noise) if s.noise is not None else None,
            noise_label=self.family_label(),
            noise_params=json.dumps(s.noise.parameters() if s.noise is not None else {},
                                    sort_keys=True),
            backbone_kind=self.kind(s.backbone),
            parameterization_kind=self.kind(s.parameterization),
            optimizer_kind=self.kind(s.optimizer), tokenizer_kind=self.kind(s.tokenizer),
            data_kind=self.kind(s.data), vocab_size=self.tokenizer.vocab_size,
            non_embedding_params=f.get("non_embedding_params"), total_params=f.get("total_params"),
            flops_per_token_M=f.get("flops_per_token_M"),
            flops_per_token_6P=f.get("flops_per_token_6P"), batch_size=t.batch_size,
            seq_len=t.seq_len, lr=s.optimizer.lr, steps=t.steps,
            warmup_steps=t.warmup_steps, cooldown_fraction=t.cooldown_fraction, seed=s.seed,
            bytes_per_token=clean(float(self.tokenizer.bytes_per_token))
            if self.data.source.has_text() else None,
            data_metrics=json.dumps(self.data.source.extra_metrics(), sort_keys=True),
            pool_tokens=self.data.train.pool_tokens)

    def family_label(self) -> str:
        """The run's model family, by which runs group (``fit --by noise``): the noise
        label, or for an objective without noise its kind."""
        s = self.spec
        noise = s.noise.label(self.kind(s.noise) or "noise") if s.noise is not None else None
        return s.objective.family_label(self.kind(s.objective) or "objective", noise)

    def register(self, status: str = "running", **fields) -> None:
        s = self.spec
        self.db.upsert_run(self.run_id, **self.registration(), status=status, **fields)
        self.db.put_config(self.run_id, resolved_toml(s, self.host),
                           self.host.converter.unstructure(s))
        # the DB's history is the run directory's (a DB rebuilt, moved or new since)
        self.db.log_many(self.run_id, self.log.records())
        self.registered = True

    def mark(self, status: str) -> None:
        """Record how the run ended; a DB that cannot be written (full, damaged) is skipped,
        so the error that ended the run is the one reported."""
        if not self.registered or not hasattr(self, "db"):
            return
        try:
            self.db.upsert_run(self.run_id, status=status, last_step=self.step)
        except (sqlite3.Error, UserError):
            pass

    def close(self) -> None:
        if getattr(self, "loader", None) is not None:
            self.loader.close()
        if hasattr(self, "log"):
            self.log.close()
        if hasattr(self, "db"):
            self.db.close()
        if hasattr(self, "dist"):
            self.dist.close()

    @property
    def tokens(self) -> int:
        return self.step * self.cfg.batch_size * self.cfg.seq_len

    # -- checkpoints -----------------------------------------------------------
    def state_dict(self) -> dict:
        return {"step": self.step,
                "noise_rng": self.noise_gen.get_state(), "torch_rng": torch.get_rng_state(),
                "data": self.batches().state_dict(self.reduce_data_state),
                "window": self.window.state_dict(), "wall_seconds": self.wall_seconds()}

    def reduce_data_state(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum a piece of the data position over the ranks (each knows its own lanes')."""
        return self.dist.all_reduce_sum(tensor.to(self.device)).cpu()

    def save(self) -> None:
        self.dist.save(self.run_dir, self.step, self.model, self.optimizer, self.state_dict(),
                       keep=self.cfg.keep_checkpoints)

    def restore(self, resume: bool) -> None:
        found = self.dist.load(self.run_dir, self.model, self.optimizer,
                               warn=console)
        if found is None:
            if resume:
                console(f"difflaws: no checkpoint in {self.run_dir}; starting at step 0")
            self.log.truncate_after(0)
            return
        step, state = found
        self.noise_gen.set_state(state["noise_rng"])
        torch.set_rng_state(state["torch_rng"])
        self.data.train.load_state_dict(state["data"])
        self.window.load_state_dict(state["window"])
        self.step, self.wall_before = step, float(state["wall_seconds"])
        self.log.truncate_after(step)
        console(f"difflaws: resuming {self.run_dir} at step {step}",
                self.quiet or not self.dist.is_main)

    # -- the loop ----------------------------------------------------------------
    def wall_seconds(self) -> float:
        return self.wall_before + (time.perf_counter() - self.session_start)

    def go(self, resume: bool) -> dict:
        try:
            return self._go(resume)
        except DatabaseFull as exc:
            kept = checkpoint.io.listing(self.run_dir)
            where = f"; the last checkpoint {kept[0]} is kept" if kept else ""
            raise DatabaseFull(f"{exc}{where}") from None

    def _go(self, resume: bool) -> dict:
        self.session_start = time.perf_counter()
        self.restore(resume)
        t = self.cfg
        if self.step >= t.steps:
            summary = engine.read_summary(self.run_dir,
                                          warn=console if self.dist.is_main else None)
            if summary is not None:  # finished before: it stays finished
                if self.dist.is_main:
                    self.keep_finished(summary)
                self.report(summary)
                return summary
        self.register("running")
        if self.dist.is_main:  # loggers that keep a run of their own (a dashboard) open it
            self.log.start(RunStart(name=self.spec.name or self.run_dir.name, step=self.step,
                                    config=self.host.converter.unstructure(self.spec),
                                    toml=resolved_toml(self.spec, self.host)))
        # asked to stop while the run was being set up (many ranks vote after a first step)
        if self.dist.world_size == 1 and self.should_stop():
            raise Stopped(self.stop.signum, self.step, self.run_dir, saved=False,
                          main=self.dist.is_main)
        sleep = float(os.environ.get(STEP_SLEEP_ENV, "0") or 0)
        bar = self.progress_bar()
        self.model.train()
        record = (self.log.records() or [{}])[-1]
        window_start, window_tokens = time.perf_counter(), 0
        while self.step < t.steps:
            lr = apply_lr(self.optimizer, self.spec.optimizer.lr,
                          wsd_multiplier(self.step, t.steps, t.warmup_steps, t.cooldown_fraction))
            values = self.train_step()
            self.check_finite(values)
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            self.step += 1
            self.window.add(values)
            window_tokens += t.batch_size * t.seq_len
            bar.update(1)
            last = self.step == t.steps
            evaluate_now = self.step % t.eval_every == 0 or last
            if self.step % t.log_every == 0 or evaluate_now:
                now = time.perf_counter()
                record = self.record(lr, window_tokens / max(now - window_start, 1e-9))
                if evaluate_now:
                    record.update(self.validate(final=last))
                self.log.write(record)
                self.db.upsert_run(self.run_id, last_step=self.step, tokens=self.tokens,
                                   **coverage(self.tokens, self.data.train.pool_tokens))
                bar.set_postfix(loss=f"{record['loss']:.3f}", nelbo=f"{record['train_nelbo']:.3f}",
                                tok_s=f"{record['tokens_per_second']:.0f}", refresh=False)
                self.window.reset()
                window_start, window_tokens = time.perf_counter(), 0
            saved = self.step % t.checkpoint_every == 0 or last
            if saved:
                self.save()
            if sleep:
                self.stop.sleep(sleep) if self.stop is not None else time.sleep(sleep)
            if not last and self.should_stop():
                if not saved:
                    self.save()
                bar.close()
                raise Stopped(self.stop.signum or self.stop_signal or signal_of(self.stop),
                              self.step, self.run_dir, saved=True, main=self.dist.is_main)
        bar.close()
        summary = self.finish(record)
        self.report(summary)
        return summary

    def should_stop(self) -> bool:
        """Whether to stop at this step boundary: one process asks its own handlers; many
        follow the votes summed in the step's all-reduce, so all stop after the same step."""
        if self.stop is None:
            return False
        if self.dist.world_size > 1:
            return self.stop_votes > 0
        return self.stop.requested

    def keep_finished(self, summary: dict) -> None:
        """A finished run re-run: its DB row says finished (added if the DB lost it)."""
        row = self.db.run(self.run_id)
        if row is not None and row.get("status") == "finished":
            return
        fields = summary_columns(summary)
        if row is None:
            self.register("finished", **fields)
        else:
            self.db.upsert_run(self.run_id, status="finished", **fields)

    def progress_bar(self):
        from tqdm import tqdm

        return tqdm(total=self.cfg.steps, initial=self.step, unit="step", dynamic_ncols=True,
                    mininterval=1.0, disable=self.quiet or self.json_lines
                    or not self.dist.is_main,
                    desc=self.spec.name or "train")

    def batches(self):
        """The loader of this rank's rows, read ahead, from the restored data position."""
        if getattr(self, "loader", None) is None:
            from difflaws.data.loader import BatchLoader

            t = self.cfg
            self.loader = BatchLoader(self.data.train, t.batch_size, t.micro_batch_size,
                                      self.dist.world.rank, self.dist.world_size, self.device)
        return self.loader

    def micro_batches(self) -> list:
        # rows of other ranks are stand-ins: the noise is drawn for whole chunks, as in one
        # process, and train_step keeps this rank's rows (difflaws.data.loader)
        return [(x, doc_ids, self.objective.batch(x, self.noise_gen))
                for x, doc_ids in self.batches().next_step()]

    def train_step(self) -> dict:
        """Forward/backward over the micro-batches; gradients are those of the mean (or,
        with ``loss_aggregation = "sum"``, the sum) over every loss token of the whole
        batch, whatever the micro-batch size."""
        batches = self.micro_batches()  # the whole global batch, drawn alike on every rank
        total = torch.stack([b.loss_mask.sum() for _, _, b in batches]).sum().clamp_min(1)
        loss_sum = torch.zeros((), device=self.device)
        nelbo_sum = torch.zeros((), device=self.device)
        mine = self.dist.local(batches)  # this rank's rows
        summed = self.cfg.loss_aggregation == "sum"
        for i, (x, doc_ids, batch) in enumerate(mine):
            n_loss = batch.loss_mask.sum()
            weight = n_loss / total
            # "sum": each micro-batch's mean times its loss tokens, so the step's gradient
            # is of the sum over the whole batch's loss tokens, however it is split
            scale = n_loss if summed else weight
            with self.dist.accumulating(last=i == len(mine) - 1):
                with self.autocast():
                    logits = self.forward(batch.z, batch.log_snr, doc_ids=doc_ids,
                                          prefix_len=batch.prefix_len)
                out = self.objective.loss(logits, batch, x)
                loss = field(out, "loss")
                (loss * scale * self.dist.grad_scale).backward()
            loss_sum += loss.detach() * weight  # logged as the mean either way
            nelbo_sum += field(out, "nelbo").detach().float() * weight
        # this rank's vote to stop (and its signal) rides along with the loss all-reduce
        signum = self.stop.signum if self.stop is not None and self.stop.requested else 0
        vote = torch.tensor([float(signum > 0), float(signum)], device=self.device)
        sums = self.dist.all_reduce_sum(torch.cat([torch.stack([loss_sum.float(),
                                                                nelbo_sum.float()]), vote]))
        grad_norm = self.dist.clip_grad_norm(self.model.parameters(), self.cfg.grad_clip)
        # one device sync per step: the NaN guard needs the values anyway
        loss, nelbo, votes, signums, norm = torch.cat([sums, grad_norm.float().reshape(1)]) \
            .tolist()
        self.stop_votes, self.stop_signal = votes, round(signums / votes) if votes else 0
        return {"loss": loss, "train_nelbo": nelbo, "grad_norm": norm}

    def check_finite(self, values: dict) -> None:
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        if bad:
            self.db.upsert_run(self.run_id, status="diverged", last_step=self.step)
            kept = checkpoint.io.listing(self.run_dir)
            where = f"; the last good checkpoint is {kept[0]}" if kept else ""
            raise TrainingDiverged(
                f"training diverged at step {self.step + 1}: {' and '.join(bad)} "
                f"= {', '.join(str(values[k]) for k in bad)}{where}. Lower optimizer.lr, "
                "raise train.warmup_steps or set train.grad_clip, then start a new run")

    def record(self, lr: float, tokens_per_second: float) -> dict:
        f = self.figures
        rec = {"step": self.step, "tokens": self.tokens,
               "epoch": coverage(self.tokens, self.data.train.pool_tokens)["epochs"], "lr": lr,
               "tokens_per_second": tokens_per_second, "wall_seconds": self.wall_seconds(),
               **self.window.means()}
        for conv in ("M", "6P"):
            per_token = f.get(f"flops_per_token_{conv}")
            rec[f"flops_{conv}"] = per_token * self.tokens if per_token is not None else None
        return rec

    def validate(self, final: bool = False) -> dict:
        """The val figures: ``val_nelbo``, the objective's reported bound (the process NELBO
        for diffusion, docs/theory.md §2.8), and ``val_objective``, the trained objective's
        own estimate on the same windows.  The end-of-run figure evaluates until its s.e.
        meets ``train.eval_stderr_target`` or ``eval_max_batches`` is reached."""
        t = self.cfg
        out = evaluate(self.forward, self.objective, self.data.val, t.eval_batches,
                       t.eval_batch_size or t.micro_batch_size or t.batch_size, self.device,
                       self.autocast, **(final_evaluation(t) if final else {}),
                       proposal=t.eval_proposal, objective_batches=t.eval_objective_batches,
                       agree=self.all_stop if self.dist.world_size > 1 else None)
        return val_record(out)

    def all_stop(self, stop: bool) -> bool:
        """Whether every rank would stop: the evaluation's batch count is the same on all."""
        votes = self.dist.all_reduce_sum(torch.tensor([float(stop)], device=self.device))
        return float(votes[0]) >= self.dist.world_size

    # -- the end -------------------------------------------------------------------
    def finish(self, last: dict) -> dict:
        tok = self.tokenizer
        val = last["val_nelbo"]
        bytes_per_token = self.data.val_bytes_per_token()
        summary = {
            "name": self.spec.name, "steps": self.step, "tokens": self.tokens,
            "pool_tokens": self.data.train.pool_tokens,
            **coverage(self.tokens, self.data.train.pool_tokens),
            "loss_figure": self.objective.figure_name,
            **{k: last.get(k) for k in VAL_KEYS},
            "train_nelbo": last["train_nelbo"], "perplexity_bound": math.exp(min(val, 700)),
            "unigram_entropy": unigram_entropy(self.data.val_stream, tok.vocab_size),
            "bytes_per_token": clean(bytes_per_token),
            "bits_per_byte": clean(val / math.log(2) / bytes_per_token),
            "wall_seconds": self.wall_seconds(),
            "tokens_per_second": self.tokens / max(self.wall_seconds(), 1e-9),
            **self.data.source.extra_metrics(), **self.figures,
        }
        summary = {k: clean(v) for k, v in summary.items()}
        if self.dist.is_main:
            rundir.refuse_links(self.run_dir)
            atomic.write_json(self.run_dir / SUMMARY_FILE, summary)
        self.db.upsert_run(self.run_id, status="finished", **summary_columns(summary))
        if self.dist.is_main:
            self.log.finish(summary)
        return summary

    def report(self, summary: dict) -> None:
        if not self.dist.is_main:
            return
        report(summary, self.run_dir, self.json_lines, self.data.source.metric_notes(),
               self.data.source.extra_metrics())


def signal_of(stop) -> int:
    """The signal a stop voted for by another rank stands for here (SIGTERM: torchrun's)."""
    import signal

    return stop.signum if stop is not None and stop.signum else signal.SIGTERM


def start_over(run_dir) -> None:
    """Remove what a previous, different spec left in ``run_dir`` (``run --force``); links
    are unlinked, never followed (see :func:`difflaws.rundir.start_over`)."""
    rundir.start_over(run_dir)
