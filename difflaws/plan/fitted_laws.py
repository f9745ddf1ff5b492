"""Read a law set from the JSON that ``difflaws fit --json`` prints.

A fit result is an object ``{"law": NAME, "params": {...}, ...}`` (see
``difflaws.fit.result.FitResult.to_dict``).  A file may hold one result, a
list of them, or results grouped by noise type (``--by noise``) as an object
keyed by group.  What each result contributes is the business of the fitter
that wrote it (``FitterConfig.plan_laws``), built-in or plugin alike.
"""

from __future__ import annotations

import json
from pathlib import Path

from difflaws.errors import UserError
from difflaws.plan.laws import CONVENTIONS, GLOBAL, LawSet, NoiseLaws
from difflaws.registry import UnknownKindError

GROUP_KEYS = ("groups", "by_noise", "results")
SKIP_KEYS = ("comparison", "ci", "diagnostics", "derived")


def read(path, known=(), host=None) -> LawSet:
    from difflaws.plugins import default_host

    path = Path(path)
    return _law_set(path, results(path, known), host or default_host())


def results(path, known=()) -> list[tuple[str, dict]]:
    """Every fit result in the file, as (group, result) pairs; ``known`` law-set names go
    into the message when the path is no file."""
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
    return found


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


def _law_set(path: Path, found, host) -> LawSet:
    groups: dict[str, dict] = {}
    conventions = set()
    budgets: list[float] = []
    for group, result in found:
        law = str(result["law"])
        where = f"--laws {path}: {law} fit" + (f" ({group})" if group != GLOBAL else "")
        try:
            config = host.registry.get("fitter", law).config
        except UnknownKindError as exc:
            raise UserError(f"{where}: {exc}") from None
        try:
            contribution = config.plan_laws(result)
        except UserError as exc:
            raise UserError(f"{where}: {exc}") from None
        if contribution.convention is not None:
            conventions.add(contribution.convention)
        laws = groups.setdefault(group, {})
        for name, value in contribution.laws.items():
            laws.setdefault(name, value)
        budgets += contribution.budgets
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
