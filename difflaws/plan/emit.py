"""Write a prediction as a runnable spec, checked by the normal spec loader."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import tomli_w

from difflaws import atomic
from difflaws.plan.laws import N_STAR_UNITS
from difflaws.errors import SpecError, UserError
from difflaws.spec.load import deep_merge, read_with_bases

WARMUP_STEPS = 2000  # the paper's linear warmup (docs/theory.md §3)
COOLDOWN_FRACTION = 0.2  # the scaled-up runs are compared on the 20%-cooldown axis
ORDER = ("name", "seed", "objective", "noise", "backbone", "parameterization", "optimizer",
         "tokenizer", "data", "distributed", "train")


def family_tables(family: str, law_set, registry, base: dict | None) -> dict:
    """The top-level tables a run of ``family`` needs (None: a table it must not have).

    The law set's own tables for the family come first; else a family named
    like a noise kind is that noise kind (fitted laws grouped ``--by noise``);
    else the base spec's [noise] table stands.
    """
    tables = law_set.tables_for(family)
    if tables is not None:
        return tables
    if family in registry.names("noise"):
        return {"noise": {"kind": family}}
    if base is not None and "noise" in base:
        return {}
    raise UserError(f"no noise kind for {family!r}; pass --base SPEC whose [noise] table "
                    "defines it")


def spec_data(prediction, law_set, registry, base: dict | None = None, name: str = "",
              sharded: bool = False) -> dict:
    """The spec's tables; ``sharded``: the model needs FSDP2 (it fits no single card)."""
    p = prediction
    data = copy.deepcopy(base if base is not None else law_set.recipe)
    if "backbone" not in data:
        raise UserError("the law set has no recipe with a [backbone] table; pass --base SPEC")
    for key in ("width", "depth", "head_dim"):
        data["backbone"].pop(key, None)
    for table, value in family_tables(p.noise, law_set, registry, base).items():
        if value is None:
            data.pop(table, None)  # wherever it came from: the family's runs cannot have it
        elif base is None or table not in base:
            data[table] = value  # a table the base spec gives is the user's choice
    beta2 = 0.98 if p.batch_size >= 256 else 0.99  # the sweep's rule (docs/theory.md §3)
    optimizer = {"betas": [0.9, beta2]}
    if p.lr is not None:
        optimizer["lr"] = float(f"{p.lr:.4g}")
    planned = {
        "name": name or data.get("name") or f"{p.noise}_{p.compute:.0e}".replace("+", ""),
        "backbone": {"shape": p.shape.name},
        "optimizer": optimizer,
        "train": {"steps": p.steps, "batch_size": p.batch_size, "seq_len": p.seq_len,
                  "warmup_steps": min(WARMUP_STEPS, p.steps // 10),
                  "cooldown_fraction": COOLDOWN_FRACTION},
    }
    if sharded:
        planned["distributed"] = {"strategy": "fsdp2", "activation_checkpointing": True}
        planned["train"]["micro_batch_size"] = 1
    merged = deep_merge(data, planned)
    return {k: merged[k] for k in sorted(merged, key=lambda k: (ORDER + (k,)).index(k))}


def header(prediction) -> str:
    p = prediction
    lines = [f"# Planned by `difflaws plan --compute {p.compute:g} --noise {p.noise} "
             f"--laws {p.law_set}`.",
             f"# N* = {p.n_star:.4g} {N_STAR_UNITS[p.n_star_key]}, D* = {p.d_star:.4g} tokens, "
             "B* = " + ("n/a" if math.isnan(p.batch_size_tokens_law)
                        else f"{p.batch_size_tokens_law:.4g} tokens") + ", eta* = "
             + (f"{p.lr:.4g}" if p.lr is not None else "n/a") + ".",
             ]
    lines += [f"# {label}: {text}" for label, text in
              (("Laws", p.law_source), ("N* counts", p.n_star_note)) if text]
    lines += [f"# Note: {note}" for note in p.law_notes]
    if p.predicted_nelbo is not None:
        lines.append(f"# Predicted NELBO {p.predicted_nelbo:.4f} without cooldown, "
                     f"{p.predicted_nelbo_annealed:.4f} with it.")
    return "\n".join(lines) + "\n"


def write_spec(path, prediction, law_set, host, base_path=None, sharded: bool = False) -> Path:
    """Write the spec, then load it back through the spec loader before keeping it."""
    from difflaws.spec import load_spec

    path = Path(path)
    base = read_with_bases(Path(base_path)).data if base_path else None
    data = spec_data(prediction, law_set, host.registry, base, name=path.stem, sharded=sharded)
    text = header(prediction) + tomli_w.dumps(data)
    tmp = path.with_name(f".{path.name}.check.toml")
    atomic.write_text(tmp, text)
    try:
        load_spec(tmp, host=host)
    except SpecError as exc:
        raise UserError(f"the planned spec does not load ({exc}); "
                        "pass --base with a spec that provides the missing tables") from None
    finally:
        tmp.unlink(missing_ok=True)
    atomic.write_text(path, text)
    return path
