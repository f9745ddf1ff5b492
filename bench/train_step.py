"""Framework overhead of a training step.

Times, for the same backbone shape in the same process:

* full: the trainer's own step (``Run.train_step``): data packing, the noise
  process's corruption and memory-lean NELBO loss, micro-batch weighting,
  grad-norm, the NaN guard's sync, then the optimizer step;
* bare: the backbone's forward on a fixed clean batch, ``F.cross_entropy``
  against it, backward, then the same optimizer step.

It prints tokens/s for both and their ratio (target: full ≤ 10% slower).

    python bench/train_step.py [--width 256 --depth 4 --seq-len 256 --batch 8 --noise uniform]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from difflaws import engine
from difflaws.plugins import default_host
from difflaws.train.trainer import Run

SPEC = """
name = "bench"
[noise]
kind = "{noise}"
[backbone]
kind = "transformer"
width = {width}
depth = {depth}
[parameterization]
kind = "completep"
[optimizer]
kind = "laprop"
lr = 0.5
[tokenizer]
kind = "bytes"
[data]
kind = "markov"
n_symbols = 200
train_tokens = {tokens}
val_tokens = {val}
[sampler]
kind = "ancestral"
[train]
steps = 1000
batch_size = {batch}
seq_len = {seq_len}
precision = "{precision}"
device = "{device}"
"""


def timed(step, n: int, sync) -> tuple[float, float]:
    """(wall seconds, process CPU seconds); on a shared CPU the latter is steadier."""
    sync()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        step()
    sync()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--noise", default="uniform")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--device", default="auto")
    p.add_argument("--steps", type=int, default=10, help="timed steps per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    host = default_host()
    with tempfile.TemporaryDirectory() as tmp:
        tokens = args.batch * args.seq_len * (args.steps * (2 * args.rounds + 2) + 4)
        path = Path(tmp) / "bench.toml"
        path.write_text(SPEC.format(noise=args.noise, width=args.width, depth=args.depth,
                                    tokens=tokens, val=4 * args.seq_len, batch=args.batch,
                                    seq_len=args.seq_len, precision=args.precision,
                                    device=args.device))
        spec = engine.load(path, host=host)
        run = Run(spec, Path(tmp) / "ws" / "bench", host, quiet=True, json_lines=False)
        opt, model, dev = run.optimizer, run.model, run.device
        sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
        x, doc_ids = run.data.train.batch_at(0, args.batch)
        x, doc_ids = x.to(dev), doc_ids.to(dev)
        lam = torch.zeros(x.shape, device=dev)

        def full():
            values = run.train_step()
            run.check_finite(values)
            opt.step()
            opt.zero_grad(set_to_none=True)

        def bare(docs=None):
            with run.autocast():
                logits = model(x, lam, doc_ids=docs)
            F.cross_entropy(logits.float().flatten(0, 1), x.flatten()).backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        def bare_docs():  # attributes the cost of keeping attention inside documents
            bare(doc_ids)

        for step in (full, bare, bare_docs):  # warm-up: allocator, kernels, lazy imports
            timed(step, 2, sync)
        t_full, t_bare, t_docs = [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]
        for _ in range(args.rounds):  # interleaved, so load drift hits all alike
            for total, step in ((t_full, full), (t_bare, bare), (t_docs, bare_docs)):
                wall, cpu = timed(step, args.steps, sync)
                total[0] += wall
                total[1] += cpu
        run.close()
    n_tokens = args.rounds * args.steps * args.batch * args.seq_len
    print(f"device {dev}, {args.precision}, width {args.width}, depth {args.depth}, "
          f"seq_len {args.seq_len}, batch {args.batch}, noise {args.noise}")
    print(f"bare backbone fwd+bwd+CE+optimizer: {n_tokens / t_bare[0]:12,.0f} tokens/s")
    print(f"  the same with document masks:     {n_tokens / t_docs[0]:12,.0f} tokens/s")
    print(f"full training step:                 {n_tokens / t_full[0]:12,.0f} tokens/s")
    print(f"overhead ratio (full time / bare time): {t_full[0] / t_bare[0]:.3f} wall, "
          f"{t_full[1] / t_bare[1]:.3f} CPU time; document masks alone: "
          f"{t_docs[1] / t_bare[1]:.3f} CPU time")


if __name__ == "__main__":
    main()
