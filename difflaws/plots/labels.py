"""The words on a figure: numbers in short scientific form, coefficients with their
intervals, and the header that states the law and whether the fit identifies it.

A figure's header is its suptitle, which constrained layout keeps clear of the
axes: the law, one line of coefficients per group, and, for a fit that does not
identify its coefficients, a "not identified: ..." line, the whole header then
drawn in the warning colour.
"""

from __future__ import annotations

import math
import textwrap

from difflaws.plots.style import WARNING

SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
PLAIN_RANGE = (1e-2, 1e3)  # magnitudes printed without a power of ten
GREEK = {"alpha": "α", "beta": "β", "eta": "η", "R_D_star": "R_D*", "R_N_star": "R_N*",
         "N_star": "N*", "D_star": "D*", "L_star": "L*", "B_star": "B*", "lr_star": "η*"}


def sci(value, digits: int = 2) -> str:
    """2.696e269 → '2.7×10²⁶⁹', 0.3393 → '0.339', 1234.5 → '1.23×10³' when past the
    plain range; inf and NaN as '∞' and '?'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "?"
    value = float(value)
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    plain = f"{value:.{digits + 1}g}"
    if value == 0 or (PLAIN_RANGE[0] <= abs(value) < PLAIN_RANGE[1] and "e" not in plain):
        return plain.replace("-", "−")
    exponent = math.floor(math.log10(abs(value)))
    mantissa = value / 10.0 ** exponent
    if round(abs(mantissa), digits - 1) >= 10:  # 9.96 rounds to 10: carry into the power
        mantissa, exponent = mantissa / 10, exponent + 1
    head = f"{mantissa:.{digits - 1}f}".replace("-", "−")
    return f"{head}×10{str(exponent).translate(SUPERSCRIPT)}"


def tex(value, digits: int = 2) -> str:
    """:func:`sci` for mathtext: 2.9e-5 → '2.9\\times10^{-5}' (no dollar signs)."""
    text = sci(value, digits).replace("−", "-")
    if "×10" not in text:
        return text.replace("∞", r"\infty")
    head, power = text.split("×10")
    plain = power.translate(str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-"))
    return rf"{head}\times10^{{{plain}}}"


def tex_text(text: str) -> str:
    """Plain words inside mathtext: upright, spaces and underscores kept."""
    safe = str(text).replace("_", r"\_").replace(" ", r"\ ").replace("$", r"\$")
    return rf"\mathrm{{{safe}}}"


def name(key: str) -> str:
    """A coefficient's printed name: alpha → α, R_D_star → R_D*."""
    return GREEK.get(key, key)


def with_ci(key: str, value, ci=None) -> str:
    """'α = 0.339 [0.31, 0.37]'; without an interval just 'α = 0.339'."""
    text = f"{name(key)} = {sci(value)}"
    if ci is not None and len(ci) == 2:
        text += f" [{sci(ci[0])}, {sci(ci[1])}]"
    return text


def _printed(parameter: str) -> str:
    """N_star.alpha → N*.α."""
    return ".".join(name(part) for part in str(parameter).split("."))


def problems(result) -> list[str]:
    """What makes a fit untrustworthy, as one short line; empty for a sound fit.

    Reads the fit's own verdict, ``diagnostics["warnings"]`` (dicts with
    ``parameter`` and ``reason``, or plain strings) and ``diagnostics["identified"]``,
    and the older ``at_bound`` and ``interior`` keys, so every fitter's figure can
    say it.  The full sentences are in the fit's text and JSON output.
    """
    d = result.diagnostics or {}
    by_reason, plain = {}, []
    for w in d.get("warnings") or []:
        if isinstance(w, dict):
            by_reason.setdefault(str(w.get("reason", "")), []).append(
                _printed(w.get("parameter", "?")))
        else:
            plain.append(str(w))
    if not by_reason and d.get("at_bound"):
        by_reason["at a bound"] = [_printed(k) for k in d["at_bound"]]
    parts = [", ".join(dict.fromkeys(names)) + ("" if reason == "not identified"
                                                 else f" ({reason})")
             for reason, names in by_reason.items()]
    parts += plain
    if not parts and (d.get("identified") is False or d.get("interior") is False):
        parts.append("the optimum is not interior")
    return ["not identified: " + "; ".join(parts)] if parts else []


def bootstrap_phrase(result) -> str:
    """'95 % CI, 200 bootstrap replicates', or '' for a fit without intervals."""
    boot = (result.diagnostics or {}).get("bootstrap") or {}
    level = boot.get("level", (result.options or {}).get("ci", 0.95))
    replicates = boot.get("replicates") or (result.options or {}).get("bootstrap")
    if not result.ci or not replicates:
        return ""
    return f"{level:.0%} CI, {replicates} bootstrap replicates".replace("%", " %")


def wrap_items(group, items, width_chars: int) -> list[str]:
    """``group: item;  item;  ...`` wrapped between items to lines of ``width_chars``."""
    lines, line = [], f"{group}: " if group is not None else ""
    for item in items:
        joined = line + ("" if not line or line.endswith(": ") else ";  ") + item
        if len(joined) > width_chars and line and not line.endswith(": "):
            lines.append(line + ";")
            line = "    " + item
        else:
            line = joined
    return lines + [line] if line.strip() else lines


def coefficients(result, keys) -> list[str]:
    """'key = value [lo, hi]' of each of ``keys`` the result has."""
    return [with_ci(k, result.params[k], result.ci.get(k)) for k in keys if k in result.params]


def header(fig, law: str, results: dict, keys=(), items_of=None):
    """Set the figure's suptitle: ``law``, then per group its coefficients with CIs (``keys``
    of ``params``, or the strings ``items_of(group, result)`` returns), then the bootstrap
    level and every group's problems.  Red when any group's fit is not identified; returns
    the problems."""
    chars = int(fig.get_figwidth() * 72 / (0.5 * 7.5))  # ~0.5 em per character at 7.5 pt
    lines, trouble = [law], []
    for group, res in results.items():
        items = items_of(group, res) if items_of is not None else coefficients(res, keys)
        lines += wrap_items(group, items, chars) if items else []
        trouble += [(f"{group}: " if group is not None else "") + p for p in problems(res)]
    phrase = bootstrap_phrase(next(iter(results.values()))) if results else ""
    if phrase:
        lines.append(phrase)
    for text in trouble[:4]:  # more would crowd out the figure; the JSON has them all
        lines += textwrap.wrap("⚠ " + text, chars, break_long_words=False)
    fig.suptitle("\n".join(lines), fontsize=7.5, color=WARNING if trouble else "black",
                 linespacing=1.4)
    return trouble
