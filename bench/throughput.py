"""Training throughput of the difflaws transformer vs a plain-PyTorch reference of the same shape.

For each precision (fp32, bf16 autocast, torch.compile of each) it times
forward+backward steps and reports tokens/s, model FLOP/s and MFU against a
matmul peak measured in the same run on the same device, then the ratio
difflaws / reference.  Target: ≥ 1.0× at the same precision.

    python bench/throughput.py                       # CPU-sized defaults
    python bench/throughput.py --shape L8-D512 --batch 8 --seq 2048 --device cuda
    python bench/throughput.py --causal              # the autoregressive baseline

With ``--causal`` both models attend causally (the reference through SDPA's
``is_causal``) and train on next-token cross-entropy: difflaws through its
``autoregressive`` objective's loss, the reference through ``F.cross_entropy`` on
the shifted targets.

FLOPs per token follow docs/theory.md §5 (M = 72·L·d² + 12·L·d·T) plus the LM head
(6·V·d), i.e. forward and backward of every matmul.
"""

from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn.functional as F
from torch import nn


# --------------------------------------------------------------------------- reference model
class RefBlock(nn.Module):
    """The same computation written the plain way: fused qkv, nn.RMSNorm, SDPA, ReLU² MLP."""

    def __init__(self, d, heads, residual, causal=False):
        super().__init__()
        self.heads, self.residual, self.causal = heads, residual, causal
        self.norm1, self.norm2 = nn.RMSNorm(d, eps=1e-6), nn.RMSNorm(d, eps=1e-6)
        self.q_norm, self.k_norm = nn.RMSNorm(d, eps=1e-6), nn.RMSNorm(d, eps=1e-6)
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.o = nn.Linear(d, d, bias=False)
        self.up, self.down = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, h, cos, sin):
        b, t, d = h.shape
        q, k, v = self.qkv(self.norm1(h)).chunk(3, dim=-1)
        q, k = self.q_norm(q), self.k_norm(k)
        q, k, v = (x.view(b, t, self.heads, -1).transpose(1, 2) for x in (q, k, v))
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        h = h + self.residual * self.o(a.transpose(1, 2).reshape(b, t, d))
        return h + self.residual * self.down(F.relu(self.up(self.norm2(h))).square())


def rotate(x, cos, sin):
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat([-x2, x1], dim=-1) * sin


class Reference(nn.Module):
    def __init__(self, vocab, d, depth, heads, causal=False):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.blocks = nn.ModuleList(RefBlock(d, heads, 4 / depth, causal) for _ in range(depth))
        self.norm = nn.RMSNorm(d, eps=1e-6)
        self.head = nn.Linear(d, vocab, bias=False)
        self.head_dim = d // heads

    def forward(self, tokens, log_snr=None):
        t = tokens.shape[1]
        inv = 1e4 ** (-torch.arange(0, self.head_dim, 2, device=tokens.device) / self.head_dim)
        ang = torch.outer(torch.arange(t, device=tokens.device).float(), inv)
        ang = torch.cat([ang, ang], -1)
        cos, sin = ang.cos(), ang.sin()
        h = self.embed(tokens)
        for block in self.blocks:
            h = block(h, cos.to(h.dtype), sin.to(h.dtype))
        return self.head(self.norm(h))


# --------------------------------------------------------------------------- measurement
def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_peak(device, dtype, n):
    """Best FLOP/s of an n×n matmul: the roofline MFU is measured against."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    best = math.inf
    for _ in range(5):
        sync(device)
        start = time.perf_counter()
        (a @ b).sum().item()
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def reference_loss(logits, tokens, causal):
    if causal:  # the plain way: slice the logits, shift the targets
        return F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), tokens[:, 1:].flatten())
    return F.cross_entropy(logits.flatten(0, 1).float(), tokens.flatten())


def train_step(model, tokens, log_snr, autocast_dtype, loss_fn):
    device = tokens.device
    sync(device)
    start = time.perf_counter()
    with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
        logits = model(tokens, log_snr)
    loss_fn(logits, tokens).backward()
    sync(device)
    model.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def interleaved_times(models, tokens, log_snr, autocast_dtype, steps, warmup, losses):
    """Best step time per model, alternating models so that load from elsewhere hits all alike."""
    best = {name: math.inf for name in models}
    for i in range(warmup + steps):
        for name, model in models.items():
            if best[name] is None:
                continue
            try:
                seconds = train_step(model, tokens, log_snr, autocast_dtype, losses[name])
            except Exception as exc:  # noqa: BLE001 - report and carry on
                print(f"  {name:15} failed: {type(exc).__name__}: {exc}")
                best[name] = None
                continue
            if i >= warmup:
                best[name] = min(best[name], seconds)
    return {name: t for name, t in best.items() if t is not None}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", default="L4-D256")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--vocab", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--modes", default="fp32,bf16,compile-fp32,compile-bf16")
    parser.add_argument("--peak-n", type=int, default=0, help="matmul size for the peak (0: auto)")
    parser.add_argument("--causal", action="store_true",
                        help="the autoregressive baseline: causal attention, next-token loss")
    args = parser.parse_args()

    from difflaws.interfaces import interface_for
    from difflaws.plugins import PluginHost

    torch.manual_seed(0)
    device = torch.device(args.device)
    host = PluginHost(entry_points=False)
    variants = {
        # the same computation as the reference: no soft-cap (fused SDPA), no sink slot
        "difflaws": {"attn_softcap": 0.0, "attention_sink": False},
        # the paper's model: soft-capped logits (explicit scores) and a sink slot
        "difflaws-paper": {},
    }
    param = host.converter.structure({"kind": "completep"}, interface_for("parameterization")).build()
    configs = {name: host.converter.structure({"kind": "transformer", "shape": args.shape, **extra},
                                              interface_for("backbone")) for name, extra in variants.items()}
    shape = next(iter(configs.values())).resolved_shape()
    flops_per_token = shape.flops_per_token_M(args.seq) + 6 * args.vocab * shape.width
    losses = {"reference": lambda logits, x: reference_loss(logits, x, args.causal)}
    if args.causal:
        from difflaws.objectives.next_token import NextTokenObjective

        objective = NextTokenObjective(mask_id=args.vocab - 1, eos_id=0)
        ours = lambda logits, x: objective.loss(logits, objective.batch(x), x).loss  # noqa: E731
    else:
        ours = lambda logits, x: reference_loss(logits, x, False)  # noqa: E731
    losses.update({name: ours for name in variants})
    tokens = torch.randint(0, args.vocab, (args.batch, args.seq), device=device)
    log_snr = None if args.causal else torch.zeros(args.batch, args.seq, device=device)
    peak_n = args.peak_n or (8192 if device.type == "cuda" else 1024)
    print(f"shape {shape.name}  batch {args.batch}×{args.seq}  vocab {args.vocab}  device {device}  "
          f"model FLOPs/token {flops_per_token / 1e6:.1f}M  torch {torch.__version__}"
          + ("  causal (FLOPs count all T² pairs, as M does)" if args.causal else ""))

    results = {}
    for mode in args.modes.split(","):
        compiled = mode.startswith("compile-")
        precision = mode.removeprefix("compile-")
        dtype = torch.bfloat16 if precision == "bf16" else None
        peak = matmul_peak(device, dtype or torch.float32, peak_n)
        models = {"reference": Reference(args.vocab, shape.width, shape.depth, shape.heads,
                                         args.causal).to(device)}
        for name, cfg in configs.items():
            models[name] = cfg.build(vocab_size=args.vocab, seq_len=args.seq, parameterization=param,
                                     device=device, causal=args.causal)
        print(f"\n[{mode}] matmul peak {peak / 1e12:.3f} TFLOP/s ({peak_n}³, {precision})")
        if compiled:
            models = {name: torch.compile(model) for name, model in models.items()}
        for name, seconds in interleaved_times(models, tokens, log_snr, dtype, args.steps,
                                               args.warmup, losses).items():
            tps = args.batch * args.seq / seconds
            flops = tps * flops_per_token
            results[(mode, name)] = tps
            print(f"  {name:15} {tps:12,.0f} tok/s  {flops / 1e12:8.3f} TFLOP/s  MFU {flops / peak:6.1%}")
        ref = results.get((mode, "reference"))
        for name in variants:
            if ref and (mode, name) in results:
                print(f"  ratio {name} / reference: {results[(mode, name)] / ref:.3f}×")

    if results:
        (best_mode, best_name), best = max(((k, v) for k, v in results.items() if k[1] != "reference"),
                                           key=lambda kv: kv[1])
        ref = results.get((best_mode, "reference"))
        print(f"\nbest difflaws configuration: {best_name} [{best_mode}] {best:,.0f} tok/s"
              + (f", {best / ref:.3f}× the reference at that precision" if ref else ""))


if __name__ == "__main__":
    main()
