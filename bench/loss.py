"""Loss cost vs F.cross_entropy on the same logits: peak extra memory and time of forward+backward.

Usage: python bench/loss.py [--tokens N] [--vocab V ...] [--kind hybrid] [--device cpu|cuda]

Memory.  On CUDA: torch.cuda.max_memory_allocated() during forward+backward minus the
memory allocated just before it (the logits themselves are excluded, their gradient is
included).  On CPU: every measurement runs in a fresh subprocess that allocates and touches
the logits, reads its resident set size (/proc/self/statm), runs one forward+backward, and
reports ru_maxrss minus that baseline.  glibc serves these large blocks with mmap and gives
them back on free, so RSS tracks live tensors; the baseline is taken after the logits exist,
so the import-time high-water mark (far below the logits' size) does not leak into the peak.

Time: best of several interleaved forward+backward runs after a warm-up, in this process.
The loss runs the full ``process.loss`` (weights, KL+IS, both reductions) on a batch from
``process.noise_batch``; "hybrid" (shift 0) exercises the mask+uniform path, the most work.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import attrs
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PAGE = 4096


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE


def setup(kind, tokens, vocab, device):
    import difflaws.noise as noise

    g = torch.Generator(device="cpu").manual_seed(0)
    mask = vocab - 1
    proc = noise.build(kind, vocab, mask, **({"shift": 0.0} if kind == "hybrid" else {}))
    x = torch.randint(0, vocab - 1, (1, tokens), generator=g)
    batch = proc.noise_batch(x, g)
    batch = type(batch)(**{k: v.to(device) for k, v in attrs.asdict(batch, recurse=False).items()})
    logits = torch.randn(1, tokens, vocab, generator=g).to(device).requires_grad_()
    return proc, batch, x.to(device), logits


def run_once(which, proc, batch, x, logits):
    logits.grad = None
    if which == "ce":
        loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), x.view(-1))
    else:
        loss = proc.loss(logits, batch, x).loss
    loss.backward()


def child(args) -> None:
    """Measure one (which, vocab) peak on CPU in a fresh process; print JSON."""
    proc, batch, x, logits = setup(args.kind, args.tokens, args.vocab[0], "cpu")
    base = rss_bytes()
    run_once(args.which, proc, batch, x, logits)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"extra": peak - base}))


def memory(which, args, vocab) -> int:
    if args.device == "cuda":
        proc, batch, x, logits = setup(args.kind, args.tokens, vocab, "cuda")
        run_once(which, proc, batch, x, logits)  # warm-up: kernels, allocator pools
        logits.grad = None
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        run_once(which, proc, batch, x, logits)
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before
    cmd = [sys.executable, __file__, "--child", "--which", which, "--kind", args.kind,
           "--tokens", str(args.tokens), "--vocab", str(vocab)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["extra"]


def timing(args, vocab, reps) -> dict:
    """Best of ``reps`` forward+backward runs per loss, the two interleaved so that load from
    other processes hits both alike; the minimum is the least contended measurement."""
    proc, batch, x, logits = setup(args.kind, args.tokens, vocab, args.device)
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    best = {"ce": float("inf"), "ours": float("inf")}
    for which in best:
        run_once(which, proc, batch, x, logits)  # warm-up
    for _ in range(reps):
        for which in best:
            sync()
            t0 = time.perf_counter()
            run_once(which, proc, batch, x, logits)
            sync()
            best[which] = min(best[which], time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=8192)
    ap.add_argument("--vocab", type=int, nargs="+", default=[32768, 131072])
    ap.add_argument("--kind", default="hybrid")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--which", default="ours", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    print(f"device={args.device} tokens={args.tokens} kind={args.kind} "
          f"(logits fp32; ratio = ours / F.cross_entropy, target mem <= 1.5, time <= 2.0)")
    for vocab in args.vocab:
        mem = {w: memory(w, args, vocab) for w in ("ce", "ours")}
        sec = timing(args, vocab, args.reps)
        logits_gb = args.tokens * vocab * 4 / 2**30
        print(f"V={vocab:>7}  logits {logits_gb:.2f} GiB | peak extra memory: "
              f"CE {mem['ce'] / 2**30:.2f} GiB, ours {mem['ours'] / 2**30:.2f} GiB, "
              f"ratio {mem['ours'] / mem['ce']:.2f} | time: CE {sec['ce'] * 1e3:.0f} ms, "
              f"ours {sec['ours'] * 1e3:.0f} ms, ratio {sec['ours'] / sec['ce']:.2f}")


if __name__ == "__main__":
    main()
