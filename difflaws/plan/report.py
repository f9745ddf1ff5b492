"""A prediction as text for people and as JSON for tools."""

from __future__ import annotations

from difflaws.plan.devices import cards_json, describe_cards
from difflaws.plan.laws import N_STAR_UNITS
from difflaws.plan.memory import GIB


def prediction_json(p, figures: dict, single, cards: dict) -> dict:
    return {
        "compute": p.compute,
        "noise": p.noise,
        "laws": p.law_set,
        "law_source": p.law_source or None,
        "flop_convention": p.convention,
        "law_sources": p.law_sources,
        "n_star": p.n_star,
        "n_star_unit": p.n_star_key,
        "n_star_note": p.n_star_note or None,
        "d_star": p.d_star,
        "shape": p.shape.name,
        "depth": p.shape.depth,
        "width": p.shape.width,
        "heads": p.shape.heads,
        "non_embedding_params": figures["non_embedding_params"],
        "total_params": figures.get("total_params"),
        "flops_per_token_M": figures["flops_per_token_M"],
        "flops_per_token_6P": figures["flops_per_token_6P"],
        "seq_len": p.seq_len,
        "batch_size": p.batch_size,
        "batch_size_tokens": p.batch_size_tokens,
        "batch_size_tokens_law": p.batch_size_tokens_law,
        "steps": p.steps,
        "tokens": p.tokens,
        "run_compute": p.run_compute,
        "lr": p.lr,
        "predicted_nelbo": p.predicted_nelbo,
        "predicted_nelbo_annealed": p.predicted_nelbo_annealed,
        "annealing_factor": p.annealing_factor,
        "memory_single_device": single.as_dict(),
        "min_gpus": cards_json(cards),
        "law_notes": list(p.law_notes),
        "warnings": list(p.warnings),
    }


def prediction_text(p, figures: dict, single, cards: dict) -> str:
    unit = N_STAR_UNITS[p.n_star_key]
    src = ", ".join(f"{k} from {v}" for k, v in p.law_sources.items())
    lines = [
        f"plan for C = {p.compute:.3g} FLOPs, noise {p.noise}, laws {p.law_set!r} "
        f"(C = {p.convention}·D)",
        *([f"  source: {p.law_source}"] if p.law_source else []),
        f"  laws used: {src}",
        f"  N* = {p.n_star:.4g} {unit}    D* = {p.d_star:.4g} tokens",
        *([f"  N* counts: {p.n_star_note}"] if p.n_star_note else []),
        f"  shape {p.shape.name}: depth {p.shape.depth}, width {p.shape.width}, "
        f"heads {p.shape.heads} ({p.shape.relative_error:+.2%} vs N*)",
        f"    non-embedding params {figures['non_embedding_params'] / 1e9:.3f}B, total "
        + (f"{figures['total_params'] / 1e9:.3f}B" if figures.get("total_params") else "n/a"),
        f"    M = {figures['flops_per_token_M']:.4g}, 6P = {figures['flops_per_token_6P']:.4g} "
        f"FLOPs/token",
        ("  batch B* = " + (f"{p.batch_size_tokens_law:.4g} tokens" if p.batch_size_tokens_law
                            == p.batch_size_tokens_law else "n/a (no B* law)")
         + f" → {p.batch_size} sequences × {p.seq_len} = {p.batch_size_tokens} tokens"),
        f"  steps {p.steps} → {p.tokens:.4g} tokens, {p.run_compute:.4g} FLOPs",
        "  learning rate η* = " + (f"{p.lr:.4g}" if p.lr is not None else "n/a (no η* law)"),
    ]
    if p.predicted_nelbo is not None:
        lines.append(f"  predicted NELBO {p.predicted_nelbo:.4f} nats/token without cooldown, "
                     f"{p.predicted_nelbo_annealed:.4f} annealed (÷{p.annealing_factor})")
    lines.append(f"  memory on one device: {single.total / GIB:.1f} GiB "
                 f"(params {single.params / GIB:.1f}, grads {single.grads / GIB:.1f}, "
                 f"optimizer {single.optimizer / GIB:.1f}, activations "
                 f"{single.activations / GIB:.1f} at micro-batch {single.setup.micro_batch})")
    lines.append("  fewest GPUs:")
    lines += describe_cards(cards)
    lines += [f"  note: {n}" for n in p.law_notes]
    lines += [f"  warning: {w}" for w in p.warnings]
    return "\n".join(lines)
