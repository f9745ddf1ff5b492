"""Coordinate check: mean |activation| per layer type over a few training steps, across shapes.

Under a parameterization that transfers (CompleteP), these curves are flat
in width and depth; under SP they drift.  The data is random tokens with
half of them replaced by a mask id, and the loss is cross-entropy on the
masked positions: enough to move every weight, without a noise process.
"""

from __future__ import annotations

import math
from collections import defaultdict

import attrs
import torch

from difflaws.optim.groups import param_groups



def layer_types(rows) -> list[str]:
    """The layer types measured, in the order the backbone's ``probes()`` gave them."""
    return list(dict.fromkeys(r.layer for r in rows))


@attrs.frozen
class CoordRow:
    sweep: str  # "width" or "depth"
    width: int
    depth: int
    step: int  # updates taken before this measurement
    layer: str
    mean_abs: float  # mean |activation| on a fixed probe batch
    mean_abs_delta: float  # mean |activation − activation at step 0|: what training moved


def adamw_from_records(model, lr: float, weight_decay: float = 0.0, default_eps: float = 1e-8):
    """Plain AdamW over the records' groups at a constant LR (the real optimizers live in the trainer)."""
    groups = param_groups(model.named_parameters(), model.param_records(), weight_decay, default_eps)
    for group in groups:
        group["lr"] = lr * group["lr_mult"]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.99))


@torch.no_grad()
def _activations(model, z) -> dict[str, list[torch.Tensor]]:
    """Every hooked output of one forward pass, grouped by layer type."""
    acts = defaultdict(list)

    def keep(layer):
        return lambda _, __, out: acts[layer].append(out.detach().float())

    probes = getattr(model, "probes", None)
    if probes is None:
        from difflaws.errors import UserError

        raise UserError(f"{type(model).__qualname__} offers no probes(), so coordcheck has "
                        "nothing to measure; see difflaws.interfaces.Backbone.probes")
    handles = [module.register_forward_hook(keep(layer))
               for layer, modules in probes().items() for module in modules]
    try:
        model(z, torch.zeros(z.shape))
    finally:
        for handle in handles:
            handle.remove()
    return acts


def _masked_batch(generator, vocab_size: int, batch_size: int, seq_len: int):
    x = torch.randint(0, vocab_size - 1, (batch_size, seq_len), generator=generator)
    masked = torch.rand(x.shape, generator=generator) < 0.5
    return x, masked, torch.where(masked, torch.full_like(x, vocab_size - 1), x)


def measure(backbone, parameterization, *, width: int, depth: int, vocab_size: int, steps: int,
            lr: float, batch_size: int = 4, seq_len: int = 64, seed: int = 0, sweep: str = "width"):
    """Rows for one shape: per layer type, on a fixed probe batch, after 0..steps updates."""
    model = backbone.resized(width, depth).build(
        vocab_size=vocab_size, seq_len=seq_len, parameterization=parameterization.build())
    model.init_weights(torch.Generator().manual_seed(seed))
    optimizer = adamw_from_records(model, lr)
    data = torch.Generator().manual_seed(seed + 1)
    _, _, probe = _masked_batch(data, vocab_size, batch_size, seq_len)
    rows, first = [], None
    for step in range(steps + 1):
        acts = _activations(model, probe)
        first = first or acts
        for layer, outs in acts.items():
            mean_abs = sum(float(a.abs().mean()) for a in outs) / len(outs)
            delta = sum(float((a - a0).abs().mean()) for a, a0 in zip(outs, first[layer])) / len(outs)
            rows.append(CoordRow(sweep, width, depth, step, layer, mean_abs, delta))
        if step == steps:
            break
        x, masked, z = _masked_batch(data, vocab_size, batch_size, seq_len)
        logits = model(z, torch.zeros(z.shape))
        loss = torch.nn.functional.cross_entropy(logits[masked].float(), x[masked])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return rows


def coord_check(backbone, parameterization, *, widths, depths, steps: int = 4, lr: float = 0.5,
                vocab_size: int = 256, fixed_width: int | None = None, fixed_depth: int | None = None,
                **kwargs) -> list[CoordRow]:
    """Width sweep at ``fixed_depth`` (default: the smallest depth), depth sweep at ``fixed_width``."""
    fixed_depth = fixed_depth or min(depths)
    fixed_width = fixed_width or min(widths)
    rows = []
    for width in widths:
        rows += measure(backbone, parameterization, width=width, depth=fixed_depth, steps=steps,
                        lr=lr, vocab_size=vocab_size, sweep="width", **kwargs)
    for depth in depths:
        rows += measure(backbone, parameterization, width=fixed_width, depth=depth, steps=steps,
                        lr=lr, vocab_size=vocab_size, sweep="depth", **kwargs)
    return rows


def slopes(rows: list[CoordRow], step: int | None = None,
           value: str = "mean_abs") -> dict[tuple[str, str], float]:
    """Least-squares slope of log2 ``value`` against log2 width (or depth), per (sweep, layer).

    0 is flat; 1 means the activation doubles whenever the shape doubles.
    """
    step = max(r.step for r in rows) if step is None else step
    out = {}
    for sweep in ("width", "depth"):
        for layer in layer_types(rows):
            pts = [(math.log2(r.width if sweep == "width" else r.depth), math.log2(getattr(r, value)))
                   for r in rows if r.sweep == sweep and r.layer == layer and r.step == step
                   and getattr(r, value) > 0]
            if len(pts) < 2:
                continue
            mx = sum(p[0] for p in pts) / len(pts)
            my = sum(p[1] for p in pts) / len(pts)
            sxx = sum((p[0] - mx) ** 2 for p in pts)
            out[(sweep, layer)] = sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx
    return out


def plot(rows: list[CoordRow], path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    steps = sorted({r.step for r in rows})
    layers = layer_types(rows)
    fig, axes = plt.subplots(2, len(layers), figsize=(4 * len(layers), 7), squeeze=False)
    for i, sweep in enumerate(("width", "depth")):
        for j, layer in enumerate(layers):
            ax = axes[i][j]
            for step in steps:
                pts = sorted((r.width if sweep == "width" else r.depth, r.mean_abs) for r in rows
                             if r.sweep == sweep and r.layer == layer and r.step == step)
                if pts:
                    ax.plot(*zip(*pts), marker="o", label=f"step {step}")
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            # minor labels on short log axes are many slow mathtext strings, and clutter
            ax.yaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel(sweep)
            ax.set_title(f"{layer} (vs {sweep})")
            if i == 0 and j == 0:
                ax.legend(fontsize=7)
    axes[0][0].set_ylabel("mean |activation|")
    axes[1][0].set_ylabel("mean |activation|")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
