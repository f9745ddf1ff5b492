"""Human-readable tables of fit results, and the comparison across groups."""

from __future__ import annotations

import math

from difflaws.tables import aligned, markdown


def flat_params(result) -> list[tuple[str, float, tuple | None]]:
    """(name, value, ci) rows; nested laws become ``D_star.alpha``."""
    rows = []
    for name, value in result.params.items():
        if isinstance(value, dict):
            for sub, v in value.items():
                ci = result.ci.get(name, {}).get(sub) if isinstance(result.ci.get(name), dict) \
                    else None
                rows.append((f"{name}.{sub}", v, ci))
        else:
            rows.append((name, value, result.ci.get(name)))
    return rows


def _num(v) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "nan"
    return f"{v:.6g}"


def format_result(result, title: str = "") -> str:
    lines = [f"{title or result.law}"]
    level = result.diagnostics.get("bootstrap", {}).get("level")
    head = f"  {'param':<24}{'value':>14}"
    if result.ci:
        head += f"   {int(round(level * 100))}% CI" if level else "   CI"
    lines.append(head)
    derived = [(name, value, result.ci.get(name)) for name, value in result.derived.items()
               if isinstance(value, (int, float))]
    beyond = result.derived.get("extrapolation", {})
    for name, value, ci in flat_params(result) + derived:
        text = f"  {name:<24}{_num(value):>14}"
        if ci:
            text += f"   [{_num(ci[0])}, {_num(ci[1])}]"
        if name in beyond:
            text += f"   (×{beyond[name]:.3g} extrapolated)"
        lines.append(text)
    diag = {k: v for k, v in result.diagnostics.items()
            if isinstance(v, (int, float, str, bool))}
    if diag:
        lines.append("  diagnostics: " + ", ".join(
            f"{k}={_num(v) if isinstance(v, float) else v}" for k, v in diag.items()))
    omitted = result.diagnostics.get("omitted_budgets")
    if omitted:
        lines.append(f"  note: no read-offs at {', '.join(f'{c:g}' for c in omitted)} FLOPs: "
                     f"past max_extrapolation = {result.options.get('max_extrapolation', 0):g} "
                     "× the largest fitted compute (raise it with -o max_extrapolation=...)")
    lines += [f"WARNING: {warning_text(w)}" for w in result.diagnostics.get("warnings", [])]
    return "\n".join(lines)


def warning_text(w: dict) -> str:
    """One identification warning: parameter, reason, bound and spread, then the sentence."""
    bound = "none" if w.get("bound") is None else _num(w["bound"])
    spread = "none" if w.get("spread") is None else \
        f"[{_num(w['spread'][0])}, {_num(w['spread'][1])}]"
    return (f"{w['parameter']}: {w['reason']} (bound {bound}, spread {spread}). "
            f"{w['message']}")


def comparison(results: dict) -> list[dict]:
    """One row per group with every coefficient, its interval and the group's warnings."""
    rows = []
    for group, result in results.items():
        row = {"group": group}
        for name, value, ci in flat_params(result):
            row[name] = value
            if ci:
                row[f"{name}_ci"] = list(ci)
        row["warnings"] = result.diagnostics.get("warnings", [])
        rows.append(row)
    return rows


def comparison_cells(results: dict, by: str) -> tuple[list[list[str]], list[str]]:
    """The comparison as a header row plus one row of strings per group (value and
    ``[lo, hi]``; a group with warnings is starred), and the footnotes."""
    rows = comparison(results)
    names = list(dict.fromkeys(k for r in rows for k in r
                               if k not in ("group", "warnings") and not k.endswith("_ci")))
    table, notes = [[by, *names]], []
    for r in rows:
        group = str(r["group"])
        if r["warnings"]:
            group += "*" * (len(notes) + 1)
            notes.append("*" * (len(notes) + 1) + f" {by}={r['group']}: "
                         + "; ".join(warning_text(w) for w in r["warnings"]))
        cells = [group]
        for n in names:
            ci = r.get(f"{n}_ci")
            cells.append(_num(r.get(n)) + (f" [{_num(ci[0])}, {_num(ci[1])}]" if ci else ""))
        table.append(cells)
    return table, notes


def format_comparison(results: dict, by: str, fmt: str = "text") -> str:
    """The comparison across groups as an aligned text table (``text``), a Markdown
    table (``md``) or JSON (``json``)."""
    if fmt == "json":
        import json

        from difflaws.fit.result import json_ready

        return json.dumps({"by": by, "comparison": json_ready(comparison(results))}, indent=2)
    if not results:
        return ""
    table, notes = comparison_cells(results, by)
    right = [False] + [True] * (len(table[0]) - 1)  # the group, then figures
    if fmt == "md":
        return "\n".join([f"**comparison by {by}**", "", markdown(table, right)]
                         + (["", *notes] if notes else []))
    return "\n".join([f"comparison by {by}", aligned(table, right, indent="  "), *notes])
