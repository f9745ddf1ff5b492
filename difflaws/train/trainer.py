"""The training loop behind ``difflaws run``.

Everything a step depends on (weights, optimizer moments, the noise RNG, the
data position, the LR-schedule step and the partial log window) is in the
checkpoint, so a killed run that is re-run continues with the very same
numbers it would have produced uninterrupted (bitwise on CPU in fp32).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from difflaws import atomic, checkpoint, engine
from difflaws.data.packing import unigram_entropy
from difflaws.distributed.quiet import SilentDB, SilentLog
from difflaws.distributed.strategy import strategy_for
from difflaws.engine import METRICS_FILE, SUMMARY_FILE
from difflaws.optim.schedule import apply_lr, wsd_multiplier
from difflaws.plugins import default_host
from difflaws.spec import resolved_toml
from difflaws.spec.errors import UserError
from difflaws.store import workspace_db
from difflaws.train.evaluate import evaluate
from difflaws.train.metrics import MetricsLog, Window, clean, console
from difflaws.train.setup import build_data, build_process, field

# Fault-injection hook for the kill-and-resume test: seconds to sleep after each step.
STEP_SLEEP_ENV = "DIFFLAWS_TEST_STEP_SLEEP"


class TrainingDiverged(UserError):
    """A non-finite loss or gradient; the last good checkpoint is kept."""


def train(spec, run_dir, quiet: bool = False, json_lines: bool = False, resume: bool = False,
          host=None) -> dict:
    """Train (or continue training) ``spec`` in ``run_dir``; returns the run summary."""
    host = host or default_host()
    run = Run(spec, Path(run_dir), host, quiet=quiet, json_lines=json_lines)
    try:
        return run.go(resume)
    except TrainingDiverged:
        raise
    except BaseException as exc:
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        run.db.upsert_run(run.run_id, status=status, last_step=run.step)
        raise
    finally:
        run.close()


def autocast_for(precision: str, device: torch.device):
    if precision == "bf16":
        return lambda: torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext


class Run:
    def __init__(self, spec, run_dir: Path, host, quiet: bool, json_lines: bool):
        self.spec, self.run_dir, self.host = spec, run_dir, host
        self.quiet, self.json_lines = quiet, json_lines
        t = self.cfg = spec.train
        # the strategy (difflaws.distributed) is the one place one process and many differ
        self.dist = strategy_for(spec)
        self.device = self.dist.device
        torch.manual_seed(spec.seed)
        with self.dist.main_first():  # rank 0 fills the token cache, the others read it
            self.data = build_data(spec, run_dir)
        self.tokenizer = self.data.tokenizer
        self.process = build_process(spec, self.tokenizer)
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
            self.db, self.run_id = workspace_db(run_dir)
            self.register()
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

    def register(self) -> None:
        s, t, f = self.spec, self.cfg, self.figures
        self.db.upsert_run(
            self.run_id, name=s.name, run_dir=str(self.run_dir.resolve()), status="running",
            noise_kind=self.kind(s.noise), shift=getattr(s.noise, "shift", None),
            backbone_kind=self.kind(s.backbone),
            parameterization_kind=self.kind(s.parameterization),
            optimizer_kind=self.kind(s.optimizer), tokenizer_kind=self.kind(s.tokenizer),
            data_kind=self.kind(s.data), vocab_size=self.tokenizer.vocab_size,
            non_embedding_params=f.get("non_embedding_params"), total_params=f.get("total_params"),
            flops_per_token_M=f.get("flops_per_token_M"),
            flops_per_token_6P=f.get("flops_per_token_6P"), batch_size=t.batch_size,
            seq_len=t.seq_len, lr=getattr(s.optimizer, "lr", None), steps=t.steps,
            warmup_steps=t.warmup_steps, cooldown_fraction=t.cooldown_fraction, seed=s.seed,
            bytes_per_token=clean(float(self.tokenizer.bytes_per_token))
            if self.data.source.has_text() else None,
            **self.data.source.extra_metrics())
        self.db.put_config(self.run_id, resolved_toml(s, self.host),
                           self.host.converter.unstructure(s))

    def close(self) -> None:
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
                "data": self.data.train.state_dict(), "window": self.window.state_dict(),
                "wall_seconds": self.wall_seconds()}

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
        self.session_start = time.perf_counter()
        self.restore(resume)
        t = self.cfg
        summary_path = self.run_dir / SUMMARY_FILE
        if self.step >= t.steps and summary_path.exists():
            summary = json.loads(summary_path.read_text())
            self.report(summary)
            return summary
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
                    record.update(self.validate())
                self.log.write(record)
                self.db.upsert_run(self.run_id, last_step=self.step, tokens=self.tokens)
                bar.set_postfix(loss=f"{record['loss']:.3f}", nelbo=f"{record['train_nelbo']:.3f}",
                                tok_s=f"{record['tokens_per_second']:.0f}", refresh=False)
                self.window.reset()
                window_start, window_tokens = time.perf_counter(), 0
            if self.step % t.checkpoint_every == 0 or last:
                self.save()
            if sleep:
                time.sleep(sleep)
        bar.close()
        summary = self.finish(record)
        self.report(summary)
        return summary

    def progress_bar(self):
        from tqdm import tqdm

        return tqdm(total=self.cfg.steps, initial=self.step, unit="step", dynamic_ncols=True,
                    mininterval=1.0, disable=self.quiet or self.json_lines
                    or not self.dist.is_main,
                    desc=self.spec.name or "train")

    def micro_batches(self) -> list:
        t = self.cfg
        micro = t.micro_batch_size or t.batch_size
        out = []
        for first in range(0, t.batch_size, micro):
            x, doc_ids = self.data.train.next_batch(min(micro, t.batch_size - first))
            x, doc_ids = x.to(self.device), doc_ids.to(self.device)
            out.append((x, doc_ids, self.process.noise_batch(x, self.noise_gen)))
        return out

    def train_step(self) -> dict:
        """Forward/backward over the micro-batches; gradients are those of the mean
        over every loss token of the whole batch, whatever the micro-batch size."""
        batches = self.micro_batches()  # the whole global batch, drawn alike on every rank
        total = torch.stack([b.loss_mask.sum() for _, _, b in batches]).sum().clamp_min(1)
        loss_sum = torch.zeros((), device=self.device)
        nelbo_sum = torch.zeros((), device=self.device)
        mine = self.dist.local(batches)  # this rank's rows
        for i, (x, doc_ids, batch) in enumerate(mine):
            weight = batch.loss_mask.sum() / total
            with self.dist.accumulating(last=i == len(mine) - 1):
                with self.autocast():
                    logits = self.forward(batch.z, batch.log_snr, doc_ids=doc_ids,
                                          prefix_len=batch.prefix_len)
                out = self.process.loss(logits, batch, x)
                loss = field(out, "loss")
                (loss * weight * self.dist.grad_scale).backward()
            loss_sum += loss.detach() * weight
            nelbo_sum += field(out, "nelbo").detach().float() * weight
        sums = self.dist.all_reduce_sum(torch.stack([loss_sum.float(), nelbo_sum]))
        grad_norm = self.dist.clip_grad_norm(self.model.parameters(), self.cfg.grad_clip)
        # one device sync per step: the NaN guard needs the values anyway
        loss, nelbo, norm = torch.cat([sums, grad_norm.float().reshape(1)]).tolist()
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
        rec = {"step": self.step, "tokens": self.tokens, "lr": lr,
               "tokens_per_second": tokens_per_second, "wall_seconds": self.wall_seconds(),
               **self.window.means()}
        for conv in ("M", "6P"):
            per_token = f.get(f"flops_per_token_{conv}")
            rec[f"flops_{conv}"] = per_token * self.tokens if per_token is not None else None
        return rec

    def validate(self) -> dict:
        t = self.cfg
        out = evaluate(self.forward, self.process, self.data.val, t.eval_batches,
                       t.eval_batch_size or t.micro_batch_size or t.batch_size, self.device,
                       self.autocast)
        return {"val_nelbo": out["nelbo"], "val_nelbo_stderr": out["stderr"]}

    # -- the end -------------------------------------------------------------------
    def finish(self, last: dict) -> dict:
        tok = self.tokenizer
        val = last["val_nelbo"]
        bytes_per_token = self.data.val_bytes_per_token()
        summary = {
            "name": self.spec.name, "steps": self.step, "tokens": self.tokens,
            "val_nelbo": val, "val_nelbo_stderr": last.get("val_nelbo_stderr"),
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
            atomic.write_json(self.run_dir / SUMMARY_FILE, summary)
        self.db.upsert_run(
            self.run_id, status="finished", last_step=self.step, tokens=self.tokens,
            final_val_nelbo=val, unigram_entropy=summary["unigram_entropy"],
            wall_seconds=summary["wall_seconds"])
        return summary

    def report(self, summary: dict) -> None:
        if not self.dist.is_main:
            return
        if self.json_lines:
            print(json.dumps({"summary": summary}, sort_keys=True), flush=True)
            return
        bpb = summary.get("bits_per_byte")
        line = (f"final val NELBO {summary['val_nelbo']:.4f} nats/token"
                + (f" ({bpb:.4f} bits/byte)" if bpb is not None else "")
                + f"; unigram entropy {summary['unigram_entropy']:.4f} nats/token")
        if summary.get("entropy_rate") is not None:
            line += f"; entropy rate (floor) {summary['entropy_rate']:.4f} nats/token"
        print(line, flush=True)
        print(f"{summary['tokens']:,} tokens in {summary['wall_seconds']:.1f} s "
              f"({summary['tokens_per_second']:,.0f} tokens/s); run directory {self.run_dir}",
              flush=True)


def start_over(run_dir) -> None:
    """Remove what a previous, different spec left in ``run_dir`` (``run --force``)."""
    run_dir = Path(run_dir)
    shutil.rmtree(run_dir / checkpoint.io.DIR, ignore_errors=True)
    for name in (METRICS_FILE, SUMMARY_FILE):
        (run_dir / name).unlink(missing_ok=True)
