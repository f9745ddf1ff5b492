"""Sampling speed: block generation with a KV cache, and step skipping.

(a) Block-wise generation (docs/theory.md §2.6) of ``--length`` tokens in
``--blocks`` blocks with the context fed once through the KV cache, against the
same generation recomputing [context, block] at every step (``kv_cache =
false``): same model, seed and settings, step skipping off in both so that only
the context differs.  Target: ≥ 2× at 4 blocks.  The tokens agree exactly for the
first two blocks only (the cache is exact while the context is one chunk).

(b) Ancestral sampling at ``--skip-steps`` (1024) steps on a masked model with
step skipping against without: every step that unmasks nothing reuses the last
logits.  The tokens must be identical (skipping is exact for a λ-blind model).

    python bench/sampling.py                       # CPU-sized defaults, about a minute
    python bench/sampling.py --device cuda --batch 16 --length 2048 --blocks 8
    python bench/sampling.py --only b --repeat 3    # one part, best of three timings

The model is randomly initialised: speed does not depend on the weights.
"""

from __future__ import annotations

import argparse
import time

import torch

import difflaws.noise as noise
from difflaws.interfaces import interface_for
from difflaws.plugins import PluginHost
from difflaws.sampling import AncestralSampler, CountedDenoiser, ReverseOptions

VOCAB = 512


def build_model(shape: str, device: str):
    host = PluginHost(entry_points=False)
    cfg = host.converter.structure({"kind": "transformer", "shape": shape}, interface_for("backbone"))
    param = host.converter.structure({"kind": "completep"}, interface_for("parameterization")).build()
    model = cfg.build(vocab_size=VOCAB, seq_len=None, parameterization=param, device=device)
    model.init_weights(torch.Generator(device=device).manual_seed(0))
    return model.eval()


def timed(model, device, batch, length, steps, repeat=1, **options):
    """(tokens, seconds, denoiser calls) of an ancestral generation, seed 0; the fastest of
    ``repeat`` runs (a shared machine only ever slows a run down)."""
    process = noise.build("masked", VOCAB, VOCAB - 1)
    sampler = AncestralSampler(ReverseOptions(**options))
    best = None
    for _ in range(repeat):
        denoiser = CountedDenoiser(model, reads_log_snr=False)
        gen = torch.Generator(device=device).manual_seed(0)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        tokens = sampler.sample(denoiser, process, batch, length, steps, generator=gen,
                                device=device).cpu()
        run = (tokens, time.perf_counter() - start, denoiser.calls)
        best = run if best is None or run[1] < best[1] else best
    return best


def report(name: str, run) -> None:
    tokens, seconds, calls = run
    print(f"  {name:>9}: {seconds:7.2f} s, {tokens.numel() / seconds:9.1f} tokens/s, "
          f"{calls} forward passes")


def blocks(model, args) -> None:
    block = -(-args.length // args.blocks)
    print(f"\n(a) {args.length} tokens in {args.blocks} blocks of {block}, {args.steps} steps each")
    runs = {}
    for cached in (False, True):
        runs[cached] = timed(model, args.device, args.batch, args.length, args.steps,
                             args.repeat, block_length=block, kv_cache=cached, skip_unchanged=False)
        report("KV cache" if cached else "recompute", runs[cached])
    exact = 2 * block
    same = bool(torch.equal(runs[True][0][:, :exact], runs[False][0][:, :exact]))
    agree = float((runs[True][0] == runs[False][0]).double().mean())
    print(f"  ratio KV cache / recompute: {runs[False][1] / runs[True][1]:.2f}x (target >= 2x); "
          f"first two blocks identical: {same}; tokens agreeing overall: {agree:.1%}")


def skipping(model, args) -> None:
    print(f"\n(b) ancestral, {args.skip_length} tokens, {args.skip_steps} steps, masked noise")
    runs = {}
    for skip in (False, True):
        runs[skip] = timed(model, args.device, args.batch, args.skip_length, args.skip_steps,
                           args.repeat, skip_unchanged=skip)
        report("skipping" if skip else "plain", runs[skip])
    same = bool(torch.equal(runs[True][0], runs[False][0]))
    print(f"  ratio skipping / plain: {runs[False][1] / runs[True][1]:.2f}x; "
          f"identical tokens: {same}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", default="L4-D256")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--length", type=int, default=512, help="(a): total tokens per sample")
    ap.add_argument("--blocks", type=int, default=4, help="(a): number of blocks")
    ap.add_argument("--steps", type=int, default=12, help="(a): steps per block")
    ap.add_argument("--skip-length", type=int, default=128, help="(b): tokens per sample")
    ap.add_argument("--skip-steps", type=int, default=1024, help="(b): steps")
    ap.add_argument("--repeat", type=int, default=1, help="time each case this often, keep the best")
    ap.add_argument("--only", choices=("a", "b"), help="run one part")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    model = build_model(args.shape, args.device)
    print(f"model {args.shape}, vocabulary {VOCAB}, device {args.device}, batch {args.batch}")

    if args.only != "b":
        blocks(model, args)
    if args.only != "a":
        skipping(model, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
