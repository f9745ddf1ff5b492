"""Does the best learning rate transfer across widths and depths?  CompleteP vs standard.

Trains tiny transformers (3 widths at the smallest depth, 3 depths at the
smallest width) on a masked-token denoising task over a random sparse
Markov token stream generated here, for a grid of base LRs (powers of 2),
and prints the final held-out loss and the best LR per shape.  Under
CompleteP the best LR should stay within one grid step across shapes; under
SP it drifts (typically down as width grows).

    python bench/lr_transfer.py [--steps 200] [--widths 32,64,128] [--depths 2,4,8]
"""

from __future__ import annotations

import argparse
import math

import torch
import torch.nn.functional as F


def markov_stream(vocab: int, seed: int, concentration: float = 0.1, chains: int = 512,
                  length: int = 1024):
    """Sampler of [B, T] windows of a random first-order Markov chain with peaked rows."""
    gen = torch.Generator().manual_seed(seed)
    alpha = torch.full((vocab, vocab), concentration)
    torch.manual_seed(seed)  # Dirichlet draws from the global generator
    transition = torch.distributions.Dirichlet(alpha).sample()  # rows: few likely successors
    stream = torch.empty(chains, length, dtype=torch.long)
    stream[:, 0] = torch.randint(0, vocab, (chains,), generator=gen)
    for t in range(1, length):
        stream[:, t] = torch.multinomial(transition[stream[:, t - 1]], 1, generator=gen).squeeze(1)

    def sample(batch: int, seq: int, generator: torch.Generator) -> torch.Tensor:
        rows = torch.randint(0, chains, (batch,), generator=generator)
        starts = torch.randint(0, length - seq + 1, (batch,), generator=generator)
        return stream[rows[:, None], starts[:, None] + torch.arange(seq)]

    return sample


def masked_loss(model, x, generator, mask_id):
    """Cross-entropy on a random half of the tokens, replaced by the mask id."""
    masked = torch.rand(x.shape, generator=generator) < 0.5
    z = torch.where(masked, torch.full_like(x, mask_id), x)
    logits = model(z, torch.zeros(x.shape))
    return F.cross_entropy(logits[masked].float(), x[masked])


def train(backbone, param, width, depth, lr, data, args):
    from difflaws.model.coordcheck import adamw_from_records

    torch.manual_seed(0)
    model = backbone.resized(width, depth).build(
        vocab_size=args.vocab + 1, seq_len=args.seq, parameterization=param.build())
    model.init_weights(torch.Generator().manual_seed(0))
    opt = adamw_from_records(model, lr)
    base = [g["lr"] for g in opt.param_groups]
    gen = torch.Generator().manual_seed(1)
    for step in range(args.steps):
        warm = min(1.0, (step + 1) / args.warmup)
        for group, lr0 in zip(opt.param_groups, base):
            group["lr"] = lr0 * warm
        loss = masked_loss(model, data(args.batch, args.seq, gen), gen, args.vocab)
        if not torch.isfinite(loss):
            return math.inf
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    model.eval()
    held = torch.Generator().manual_seed(12345)
    with torch.no_grad():
        losses = [masked_loss(model, data(args.batch, args.seq, held), held, args.vocab).item()
                  for _ in range(4)]
    return sum(losses) / len(losses)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--widths", default="32,64,128")
    parser.add_argument("--depths", default="2,4,8")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--vocab", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from difflaws.interfaces import interface_for
    from difflaws.plugins import PluginHost

    host = PluginHost(entry_points=False)
    backbone = host.converter.structure({"kind": "transformer", "width": 32, "depth": 2, "head_dim": 16,
                                         "attention": "sdpa"}, interface_for("backbone"))
    widths = [int(w) for w in args.widths.split(",")]
    depths = [int(d) for d in args.depths.split(",")]
    shapes = [(w, min(depths)) for w in widths] + [(min(widths), d) for d in depths if d != min(depths)]
    grids = {"completep": [2.0**k for k in range(-4, 1)],  # base η; hidden LR is η/d
             "standard": [2.0**k for k in range(-10, -5)]}
    data = markov_stream(args.vocab, seed=0)
    summary = {}
    for kind, grid in grids.items():
        param = host.converter.structure({"kind": kind}, interface_for("parameterization"))
        print(f"\n{kind}: final held-out loss (nats/masked token)")
        print(f"{'shape':>10} " + " ".join(f"{lr:>8.3g}" for lr in grid) + "   best")
        best = {}
        for width, depth in shapes:
            losses = [train(backbone, param, width, depth, lr, data, args) for lr in grid]
            i = min(range(len(grid)), key=losses.__getitem__)
            best[(width, depth)] = i
            print(f"{f'L{depth}-D{width}':>10} " + " ".join(f"{v:>8.3f}" for v in losses)
                  + f"   {grid[i]:.3g}", flush=True)
        spread = max(best.values()) - min(best.values())
        summary[kind] = spread
        print(f"{kind}: best LR spans {spread} grid step(s) (factor {2**spread}) across shapes")
    print("\nsummary: " + ", ".join(f"{k} spread {v} step(s)" for k, v in summary.items())
          + (" — CompleteP transfers better" if summary["completep"] < summary["standard"] else ""))


if __name__ == "__main__":
    main()
