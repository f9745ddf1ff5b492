#!/usr/bin/env bash
# One-shot GPU check: the single-GPU checks of bench/gpu_check.py (attention backends agree,
# fwd+bwd tokens/s and MFU against a matmul peak measured in the same run), then a short
# FSDP2 training through `torchrun -m difflaws run` with xformers attention (SDPA if xformers
# does not load), printing its tokens/s, MFU and the ratio to the single-GPU fwd+bwd baseline;
# then the ratio benches on one GPU: autoregressive (causal) training against a plain causal
# PyTorch model at bf16, the NELBO loss against F.cross_entropy, and sampling (block KV cache,
# step skipping).  Exits 0 with a SKIP line without CUDA, 1 if a check fails.
#
#     bench/gpu_check.sh [NPROC]        # default: every visible GPU
#     SHAPE=L8-D512 STEPS=30 PYTHON=.venv/bin/python bench/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "SKIP: no CUDA device; nothing to check"
    exit 0
fi
NPROC=${1:-$("$PY" -c 'import torch; print(torch.cuda.device_count())')}
SHAPE=${SHAPE:-L8-D512}
SEQ=${SEQ:-2048}
PER_GPU=${PER_GPU:-8}   # sequences per GPU per step
STEPS=${STEPS:-30}
VOCAB=258               # the bytes tokenizer's, so both measurements share the model
ATTN=$("$PY" -c 'from difflaws.builtins.attention import xformers_importable as x; print("xformers" if x() else "sdpa")')
[ "$ATTN" = xformers ] || echo "NOTE: xformers does not load here; the FSDP2 run uses SDPA"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$PY" bench/gpu_check.py --shape "$SHAPE" --batch "$PER_GPU" --seq "$SEQ" --vocab "$VOCAB" \
    | tee "$work/single.txt"

cat > "$work/spec.toml" <<SPEC
name = "gpu_check"
[noise]
kind = "masked"
[backbone]
kind = "transformer"
shape = "$SHAPE"
attn_softcap = 0.0
attention = "$ATTN"
[data]
kind = "markov"
n_symbols = 200
train_tokens = 20_000_000
val_tokens = 200_000
[train]
steps = $STEPS
batch_size = $((PER_GPU * NPROC))
seq_len = $SEQ
warmup_steps = 5
precision = "bf16"
log_every = 5
eval_every = $STEPS
eval_batches = 1
checkpoint_every = $STEPS
[distributed]
strategy = "fsdp2"
SPEC

echo "FSDP2 + $ATTN training: $NPROC GPU(s), $SHAPE, $((PER_GPU * NPROC)) x $SEQ tokens per step, $STEPS steps"
torchrun --standalone --nproc_per_node="$NPROC" -m difflaws run "$work/spec.toml" \
    --out "$work/run" --json --quiet > "$work/out.jsonl"

"$PY" - "$work" "$NPROC" "$SHAPE" "$SEQ" "$VOCAB" <<'PYEOF'
import json, re, statistics, sys
from pathlib import Path

work, nproc, shape, seq, vocab = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
single = (work / "single.txt").read_text()
peak = float(re.search(r"bf16 matmul peak: ([\d.]+) TFLOP/s", single).group(1)) * 1e12
base = float(re.search(r"fused \(softcap 0\): ([\d,]+) tok/s", single).group(1).replace(",", ""))
records = [json.loads(line) for line in (work / "out.jsonl").read_text().splitlines()
           if line.startswith("{") and '"step"' in line]
tps = statistics.median(r["tokens_per_second"] for r in records[1:] or records)  # first window compiles
from difflaws import engine
spec = engine.load(work / "spec.toml")
fig = engine.figures(spec)
width = spec.backbone.resolved_shape().width
flops_per_token = fig["flops_per_token_M"] + 6 * vocab * width  # as bench/gpu_check.py counts
mfu = tps * flops_per_token / (peak * nproc)
print(f"FSDP2 training: {tps:,.0f} tok/s on {nproc} GPU(s) = {tps / nproc:,.0f} tok/s per GPU, "
      f"MFU {mfu:.1%}")
print(f"per-GPU training throughput / single-GPU fwd+bwd baseline: {tps / nproc / base:.2f}")
ok = 0.0 < mfu < 1.0
print("OK" if ok else f"FAIL: implausible MFU {mfu:.2f}")
sys.exit(0 if ok else 1)
PYEOF

echo "autoregressive training, bf16, $SHAPE: difflaws / plain causal PyTorch"
"$PY" bench/throughput.py --causal --device cuda --modes bf16 --shape "$SHAPE" \
    --batch "$PER_GPU" --seq "$SEQ" --vocab "$VOCAB"
echo "NELBO loss / F.cross_entropy"
"$PY" bench/loss.py --device cuda
echo "sampling: block KV cache, step skipping"
"$PY" bench/sampling.py --device cuda --shape "$SHAPE" --batch 8
