"""Parameter groups from ParamRecords: one group per (group, lr_mult, wd_mult, eps)."""

from __future__ import annotations

from difflaws.errors import UserError


def param_groups(named_parameters, records, weight_decay: float, eps: float) -> list[dict]:
    """Torch param-group dicts carrying ``lr_mult`` (read by the LR schedule every step),
    ``weight_decay`` = wd × wd_mult and the record's ε (or the optimizer's)."""
    params = {name: p for name, p in named_parameters if p.requires_grad}
    by_name = {r.name: r for r in records}
    missing = sorted(set(params) - set(by_name))
    if missing:
        raise UserError(f"the parameterization gave no record for {', '.join(missing[:5])}; "
                        "every trainable parameter needs one")
    groups: dict[tuple, dict] = {}
    for name, p in params.items():
        rec = by_name[name]
        g = groups.setdefault(rec.group_key(), {
            "params": [], "names": [], "group": rec.group, "lr_mult": rec.lr_mult,
            "wd_mult": rec.wd_mult, "weight_decay": weight_decay * rec.wd_mult,
            "eps": eps if rec.eps is None else rec.eps, "lr": 0.0,
        })
        g["params"].append(p)
        g["names"].append(name)
    return list(groups.values())
