"""Does the data loader keep up?  Loader tokens/s against the trainer's, same machine, same shape.

In one run, on a synthetic corpus written to a temporary directory (``--tokens`` tokens
in ``--shards`` parquet shards, and the same documents as one flat ``.bin``):

* the loader: :class:`difflaws.data.loader.BatchLoader` serving ``--batch`` ×
  ``--seq-len`` steps from the ``parquet`` kind and from the ``tokens`` kind, read
  synchronously (no read-ahead), so the figure is what one process can prepare;
* the trainer: ``Run.train_step`` plus the optimizer step of a small transformer
  (``--width``, ``--depth``) on CPU at the same batch × seq_len, as bench/train_step.py
  times it;

and prints both rates, their ratio (target: loader ≥ 10× the CPU trainer), and the
headroom over what one H200 would consume at the paper's L20-D1536 shape: M FLOPs per
token (difflaws' ``flops_per_token_M``, docs/theory.md §5) at an assumed MFU of 40% of
989 TFLOP/s (H200 bf16 dense peak).

    python bench/data.py [--tokens 50000000 --shards 16 --seq-len 2048 --batch 8]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from difflaws import engine
from difflaws.builtins.data import ParquetDataConfig, TokensDataConfig
from difflaws.data import tokens_file
from difflaws.data.loader import BatchLoader
from difflaws.plugins import default_host
from difflaws.tokenizers.bytes import EOS_ID, ByteTokenizer
from difflaws.train.trainer import Run

H200_BF16_DENSE = 989e12  # FLOP/s, the H200's bf16 dense tensor-core peak
ASSUMED_MFU = 0.40
PAPER_SHAPE, PAPER_VOCAB, PAPER_SEQ = "L20-D1536", 131_072, 2048

SPEC = """
name = "bench-data"
[noise]
kind = "masked"
[backbone]
kind = "transformer"
width = {width}
depth = {depth}
[optimizer]
kind = "laprop"
lr = 0.5
[tokenizer]
kind = "bytes"
[data]
kind = "tokens"
path = "{path}"
[train]
steps = 1000
batch_size = {batch}
seq_len = {seq_len}
device = "cpu"
"""


def write_corpus(root: Path, n_tokens: int, n_shards: int, row_group_tokens: int, seed: int):
    """Random documents (mean 1,000 tokens, ids < 256) as parquet shards and as one .bin."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    lengths = np.maximum(1, rng.exponential(1000, n_tokens // 1000 + 1).astype(np.int64))
    lengths = lengths[np.cumsum(lengths) <= n_tokens]
    if len(lengths) < n_shards:
        raise SystemExit(f"--tokens {n_tokens:,} makes {len(lengths)} documents (about 1,000 "
                         f"tokens each), fewer than --shards {n_shards}; raise --tokens")
    values = rng.integers(0, 256, int(lengths.sum()), dtype=np.int32)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    (root / "shards").mkdir()
    rows_per_group = max(1, row_group_tokens // 1000)
    for s, docs in enumerate(np.array_split(np.arange(len(lengths)), n_shards)):
        lo, hi = offsets[docs[0]], offsets[docs[-1] + 1]
        arr = pa.ListArray.from_arrays(pa.array(offsets[docs[0]:docs[-1] + 2] - lo, pa.int32()),
                                       pa.array(values[lo:hi]))
        pq.write_table(pa.table({"tokens": arr}), root / "shards" / f"shard-{s:03d}.parquet",
                       row_group_size=rows_per_group)
    flat = np.empty(len(values) + len(lengths), dtype=np.uint16)
    ends = offsets[1:] + np.arange(len(lengths))
    mask = np.ones(len(flat), dtype=bool)
    mask[ends] = False
    flat[mask], flat[ends] = values, EOS_ID
    tokens_file.write(root / "train.bin", flat, vocab_size=258, eos_id=EOS_ID, tokenizer="bytes")
    return len(flat)


def loader_rate(windows, batch: int, seq_len: int, min_seconds: float) -> float:
    """Tokens/s of one process preparing whole global batches, no read-ahead."""
    loader = BatchLoader(windows, batch, 0, 0, 1, "cpu", depth=0)
    loader.next_step()  # first touch: the first row groups, the caches
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_seconds:
        loader.next_step()
        steps += 1
    elapsed = time.perf_counter() - start
    loader.close()
    return steps * batch * seq_len / elapsed


def trainer_rate(root: Path, args) -> float:
    host = default_host()
    path = root / "bench.toml"
    path.write_text(SPEC.format(width=args.width, depth=args.depth, path=root / "train.bin",
                                batch=args.batch, seq_len=args.seq_len))
    spec = engine.load(path, host=host)
    run = Run(spec, root / "ws" / "bench", host, quiet=True, json_lines=False)
    try:
        def step():
            run.check_finite(run.train_step())
            run.optimizer.step()
            run.optimizer.zero_grad(set_to_none=True)

        step()  # warm-up: allocator, lazy imports, the read-ahead thread
        start = time.perf_counter()
        for _ in range(args.train_steps):
            step()
        return args.train_steps * args.batch * args.seq_len / (time.perf_counter() - start)
    finally:
        run.close()


def h200_rate() -> tuple[float, float]:
    """(M FLOPs/token, tokens/s) of one H200 training the paper's L20-D1536 at T = 2048."""
    config = default_host().registry.get("backbone", "transformer").config(shape=PAPER_SHAPE)
    m = config.figures(vocab_size=PAPER_VOCAB, seq_len=PAPER_SEQ)["flops_per_token_M"]
    return m, ASSUMED_MFU * H200_BF16_DENSE / m


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tokens", type=int, default=50_000_000)
    p.add_argument("--shards", type=int, default=16)
    p.add_argument("--row-group-tokens", type=int, default=1 << 20)
    p.add_argument("--seq-len", type=int, default=2048)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lanes", type=int, default=8)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--depth", type=int, default=2)
    p.add_argument("--train-steps", type=int, default=2)
    p.add_argument("--seconds", type=float, default=3.0, help="timing window per loader")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    tok = ByteTokenizer()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        n = write_corpus(root, args.tokens, args.shards, args.row_group_tokens, seed=0)
        print(f"corpus: {n:,} tokens (EOS included) in {args.shards} parquet shards and one "
              f".bin, written in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        source = ParquetDataConfig(paths=[str(root / "shards")], lanes=args.lanes).build()
        parquet = source.train_windows(tok, root / "cache", args.seq_len, 0, 0, args.batch)
        print(f"parquet index built once in {time.perf_counter() - t0:.1f} s (then cached)")
        rates = {"parquet": loader_rate(parquet, args.batch, args.seq_len, args.seconds)}
        flat = TokensDataConfig(path=str(root / "train.bin")).build()
        bin_windows = flat.train_windows(tok, root, args.seq_len, 0, 0, args.batch)
        rates["tokens (.bin)"] = loader_rate(bin_windows, args.batch, args.seq_len, args.seconds)
        trainer = trainer_rate(root, args)
    m, h200 = h200_rate()
    print(f"shape: batch {args.batch} x seq_len {args.seq_len}; trainer: transformer width "
          f"{args.width}, depth {args.depth}, fp32 on {torch.get_num_threads()} CPU threads")
    print(f"CPU trainer step:                    {trainer:14,.0f} tokens/s")
    for name, rate in rates.items():
        print(f"loader, {name + ':':<29}{rate:14,.0f} tokens/s   ({rate / trainer:,.0f}x the "
              f"CPU trainer; target >= 10x)")
    print(f"H200 at {PAPER_SHAPE}, T = {PAPER_SEQ}: tokens/s = MFU x peak / M = "
          f"{ASSUMED_MFU:.2f} x {H200_BF16_DENSE:.3g} / {m:.4g} = {h200:,.0f} tokens/s "
          "(M = flops_per_token_M, docs/theory.md §5; MFU assumed)")
    for name, rate in rates.items():
        print(f"  headroom of one loader process, {name}: {rate / h200:,.1f}x")


if __name__ == "__main__":
    main()
