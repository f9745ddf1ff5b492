"""Read a law set from the JSON that ``difflaws fit --json`` prints.

A fit result is an object ``{"law": NAME, "params": {...}, ...}`` (see
``difflaws.fit.result.FitResult.to_dict``).  A file may hold one result, a
list of them, or results grouped by noise type (``--by noise``) as an object
keyed by group.  The laws a plan uses are read from:

* ``isoflop``: ``params.N_star``, ``D_star``, ``L_star`` (each ``{A, alpha}``),
  N* in non-embedding parameters, C in the convention ``options.convention``;
* ``chinchilla``: ``E, A, B, alpha, beta`` of L(N,D) = E + A/N^α + B/D^β,
  whose compute-optimal frontier under C = 6ND has a closed form (fitting.md §1);
* ``batchsize``: B*(D) ``{A, alpha}``; ``lr``: η*(B) ``{A, alpha}``;
* ``powerlaw``: y = A·C^α, used as the law named by ``options.target``
  (``N_star``, ``D_star``, ``L_star``) when given.

The FLOP convention is ``options.convention`` (``"M"`` or ``"6P"``; default ``M``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from difflaws.plan.laws import CONVENTIONS, GLOBAL, LawSet, NoiseLaws, PowerLaw
from difflaws.spec.errors import UserError

GROUP_KEYS = ("groups", "by_noise", "results")
SKIP_KEYS = ("comparison", "ci", "diagnostics", "derived")
FRONTIER = ("N_star", "D_star", "L_star")


def read(path, known=()) -> LawSet:
    path = Path(path)
    if not path.is_file():
        names = ", ".join(known)
        raise UserError(f"--laws {str(path)!r}: neither a built-in law set ({names}) nor a file; "
                        "pass a law-set name or the JSON written by `difflaws fit --json`")
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"--laws {path}: not a JSON file from `difflaws fit --json` ({exc})") \
            from None
    found: list[tuple[str, dict]] = []
    _collect(doc, GLOBAL, found)
    if not found:
        raise UserError(f"--laws {path}: no fit results in it (expected objects with "
                        "'law' and 'params', as `difflaws fit --json` prints)")
    return _law_set(path, found)


def _collect(node, group: str, out: list) -> None:
    if isinstance(node, list):
        for item in node:
            _collect(item, group, out)
    elif isinstance(node, dict):
        if "law" in node and "params" in node:
            out.append((str(node.get("group") or node.get("noise") or group), node))
            return
        for key, value in node.items():
            if key not in SKIP_KEYS:
                _collect(value, group if key in GROUP_KEYS else str(key), out)


def _power(value, where: str) -> PowerLaw:
    try:
        law = PowerLaw(float(value["A"]), float(value["alpha"]))
    except (TypeError, KeyError, ValueError):
        raise UserError(f"{where}: expected an object with numbers 'A' and 'alpha'") from None
    if not (math.isfinite(law.A) and math.isfinite(law.alpha)) or law.A <= 0:
        raise UserError(f"{where}: A must be a positive finite number and alpha finite")
    return law


def chinchilla_frontier(p: dict) -> dict:
    """N*(C) and D*(C) of L = E + A/N^α + B/D^β under C = 6·N·D (N = parameters).

    Minimising over N at fixed C gives N = G·(C/6)^a and D = (C/6)^b / G with
    G = (αA/(βB))^(1/(α+β)), a = β/(α+β), b = α/(α+β) (fitting.md §1).
    L*(C) on this frontier keeps E, so it is no pure power law and is left out.
    """
    E, A, B, al, be = (float(p[k]) for k in ("E", "A", "B", "alpha", "beta"))
    G = (al * A / (be * B)) ** (1.0 / (al + be))
    a, b = be / (al + be), al / (al + be)
    return {"N_star": PowerLaw(G * 6.0 ** -a, a), "D_star": PowerLaw(6.0 ** -b / G, b)}


def _law_set(path: Path, found) -> LawSet:
    groups: dict[str, dict] = {}
    conventions = set()
    budgets: list[float] = []
    for group, result in found:
        law, params = str(result["law"]), result["params"]
        options = result.get("options") or {}
        where = f"--laws {path}: {law} fit" + (f" ({group})" if group != GLOBAL else "")
        convention = str(options.get("convention") or "M")
        laws = groups.setdefault(group, {})
        if law == "isoflop":
            conventions.add(convention)
            for name in FRONTIER:
                if name in params:
                    laws[name] = _power(params[name], f"{where}: {name}")
            budgets += [float(o["budget"]) for o in (result.get("derived") or {}).get("optima", [])
                        if isinstance(o, dict) and o.get("budget")]
        elif law == "chinchilla":
            conventions.add("6P")
            try:
                frontier = chinchilla_frontier(params)
            except (KeyError, TypeError, ValueError, ZeroDivisionError):
                raise UserError(f"{where}: needs E, A, B, alpha, beta") from None
            for name, value in frontier.items():
                laws.setdefault(name, value)
        elif law == "batchsize":
            laws["B_star"] = _power(params, where)
        elif law == "lr":
            laws["lr_star"] = _power(params, where)
        elif law == "powerlaw" and options.get("target") in FRONTIER:
            conventions.add(convention)
            laws[options["target"]] = _power(params, where)
    bad = conventions - set(CONVENTIONS)
    if bad or len(conventions) > 1:
        raise UserError(f"--laws {path}: fits use FLOP conventions {sorted(conventions)}; "
                        f"a law set needs one of {', '.join(CONVENTIONS)}")
    if not any("N_star" in g and "D_star" in g for g in groups.values()):
        raise UserError(f"--laws {path}: no compute-optimal frontier (N_star and D_star) in it; "
                        "fit one with `difflaws fit SOURCE --law isoflop --json`")
    noises = {g: NoiseLaws(**laws) for g, laws in groups.items()}
    compute_range = (min(budgets), max(budgets)) if budgets else None
    # FIT's frontier laws give N* in non-embedding parameters, whatever the FLOP convention
    return LawSet(path.name, f"fitted laws from {path}", (conventions or {"M"}).pop(), noises,
                  "non_embedding_params", compute_range=compute_range)
