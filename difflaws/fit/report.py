"""Human-readable tables of fit results, and the comparison across groups."""

from __future__ import annotations

import math


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
    for name, value, ci in flat_params(result) + derived:
        text = f"  {name:<24}{_num(value):>14}"
        if ci:
            text += f"   [{_num(ci[0])}, {_num(ci[1])}]"
        lines.append(text)
    diag = {k: v for k, v in result.diagnostics.items()
            if isinstance(v, (int, float, str, bool))}
    if diag:
        lines.append("  diagnostics: " + ", ".join(
            f"{k}={_num(v) if isinstance(v, float) else v}" for k, v in diag.items()))
    return "\n".join(lines)


def comparison(results: dict) -> list[dict]:
    """One row per group with every coefficient and its interval."""
    rows = []
    for group, result in results.items():
        row = {"group": group}
        for name, value, ci in flat_params(result):
            row[name] = value
            if ci:
                row[f"{name}_ci"] = list(ci)
        rows.append(row)
    return rows


def format_comparison(results: dict, by: str) -> str:
    rows = comparison(results)
    if not rows:
        return ""
    names = [k for k in rows[0] if k != "group" and not k.endswith("_ci")]
    width = max(12, max(len(str(r["group"])) for r in rows) + 2)
    lines = [f"comparison by {by}", f"  {by:<{width}}" + "".join(f"{n:>22}" for n in names)]
    for r in rows:
        cells = []
        for n in names:
            ci = r.get(f"{n}_ci")
            cell = _num(r.get(n))
            if ci:
                cell += f" ±{_num((ci[1] - ci[0]) / 2)}"
            cells.append(f"{cell:>22}")
        lines.append(f"  {str(r['group']):<{width}}" + "".join(cells))
    return "\n".join(lines)
