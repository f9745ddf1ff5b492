"""Short self-checking GPU script: attention backends agree, and the model runs at a sane speed.

1. xformers vs SDPA on packed documents in bf16, kernel level (with sink
   slots) and whole-model level (softcap 0, since xformers cannot soft-cap);
2. forward+backward tokens/s and MFU of the transformer against a bf16
   matmul peak measured in the same run, for the fused (softcap 0) and the
   paper's soft-capped configuration.

Exits 0 with a SKIP line without CUDA; exits 1 if a check fails.

    python bench/gpu_check.py [--shape L8-D512] [--batch 8] [--seq 2048]
"""

from __future__ import annotations

import argparse
import sys


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", default="L8-D512")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=2048)
    parser.add_argument("--vocab", type=int, default=32768)
    args = parser.parse_args()

    import torch

    if not torch.cuda.is_available():
        print("SKIP: no CUDA device; nothing to check")
        return 0

    from throughput import matmul_peak, train_step  # a sibling script: python puts bench/ on the path

    from difflaws.builtins.attention import xformers_importable
    from difflaws.interfaces import interface_for
    from difflaws.model.kernels.sdpa import sdpa_attention
    from difflaws.model.masks import AttentionMask
    from difflaws.plugins import PluginHost

    failures = []
    device = torch.device("cuda")
    host = PluginHost(entry_points=False)
    print(f"device {torch.cuda.get_device_name()}  torch {torch.__version__}")

    # -- 1. backend agreement --------------------------------------------------
    gen = torch.Generator(device="cuda").manual_seed(0)
    batch, heads, seq, dim = 4, 8, 512, 64
    q, k, v = (torch.randn(batch, heads, seq, dim, device=device, generator=gen, dtype=torch.bfloat16)
               for _ in range(3))
    sink_k, sink_v = (torch.randn(heads, dim, device=device, generator=gen, dtype=torch.bfloat16)
                      for _ in range(2))
    lengths = torch.randint(16, 200, (64,), generator=torch.Generator().manual_seed(0))
    doc_ids = torch.repeat_interleave(torch.arange(64), lengths)[: batch * seq].view(batch, seq)
    mask = AttentionMask(seq, doc_ids.to(device))
    reference = sdpa_attention(q.float(), k.float(), v.float(), mask, scale=dim**-0.5,
                               sink_k=sink_k.float(), sink_v=sink_v.float())
    fused = sdpa_attention(q, k, v, mask, scale=dim**-0.5, sink_k=sink_k, sink_v=sink_v)
    err = (fused.float() - reference).abs().max().item()
    print(f"sdpa bf16 vs fp32 on packed documents: max |Δ| = {err:.2e}")
    if err > 5e-2:
        failures.append("sdpa bf16 disagrees with fp32")
    if xformers_importable():
        from difflaws.model.kernels.xformers import xformers_attention

        got = xformers_attention(q, k, v, mask, scale=dim**-0.5, sink_k=sink_k, sink_v=sink_v)
        err = (got.float() - reference).abs().max().item()
        print(f"xformers vs sdpa (fp32) on packed documents, bf16: max |Δ| = {err:.2e}")
        if err > 5e-2:
            failures.append("xformers disagrees with sdpa")
        models = {}
        for kind in ("sdpa", "xformers"):
            cfg = host.converter.structure({"kind": "transformer", "shape": "L2-D256",
                                            "attn_softcap": 0.0, "attention": kind}, interface_for("backbone"))
            param = host.converter.structure({"kind": "standard"}, interface_for("parameterization")).build()
            torch.manual_seed(0)
            models[kind] = cfg.build(vocab_size=1000, seq_len=seq, parameterization=param, device=device)
        models["xformers"].load_state_dict(models["sdpa"].state_dict())
        tokens = torch.randint(0, 1000, (batch, seq), device=device)
        with torch.autocast("cuda", dtype=torch.bfloat16), torch.no_grad():
            a = models["sdpa"](tokens, None, doc_ids=doc_ids.to(device)).float()
            b = models["xformers"](tokens, None, doc_ids=doc_ids.to(device)).float()
        rel = ((a - b).norm() / a.norm()).item()
        print(f"whole model xformers vs sdpa, bf16 autocast, packed docs: relative error {rel:.2e}")
        if rel > 2e-2:
            failures.append("model outputs differ between xformers and sdpa")
    else:
        print("SKIP: xformers does not load here; backend equality not checked")

    # -- 2. speed ----------------------------------------------------------------
    peak = matmul_peak(device, torch.bfloat16, 8192)
    print(f"bf16 matmul peak: {peak / 1e12:.1f} TFLOP/s")
    param = host.converter.structure({"kind": "completep"}, interface_for("parameterization")).build()
    tokens = torch.randint(0, args.vocab, (args.batch, args.seq), device=device)
    for label, extra in (("fused (softcap 0)", {"attn_softcap": 0.0}), ("paper (softcap 30)", {})):
        cfg = host.converter.structure({"kind": "transformer", "shape": args.shape, **extra},
                                       interface_for("backbone"))
        model = cfg.build(vocab_size=args.vocab, seq_len=args.seq, parameterization=param, device=device)
        flops_per_token = cfg.figures(args.vocab, args.seq)["flops_per_token_M"] + 6 * args.vocab * cfg.resolved_shape().width
        times = [train_step(model, tokens, None, torch.bfloat16) for _ in range(8)][3:]
        tps = args.batch * args.seq / sorted(times)[len(times) // 2]
        mfu = tps * flops_per_token / peak
        print(f"{args.shape} {label}: {tps:,.0f} tok/s fwd+bwd, MFU {mfu:.1%}")
        if not 0.0 < mfu < 1.0:
            failures.append(f"implausible MFU {mfu:.2f} for {label}")
        del model

    for failure in failures:
        print(f"FAIL: {failure}")
    print("OK" if not failures else f"{len(failures)} check(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
