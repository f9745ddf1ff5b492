"""Is a fit identified?  The one check every fitter runs on its coefficients.

A coefficient is flagged when

* it sits at (or within ``REL_TOL`` of) a bound of the law's search box, or
  beyond it: the optimiser ran off to where the data no longer constrain it;
* it is not finite, or its bootstrap interval is unbounded or reaches past a
  bound: the data leave it free;
* it is an exponent whose interval holds 0 or is wider than ``MAX_SPREAD``
  times its value: the sign or size of the effect is not pinned down.

Each flag is a dict ``parameter, reason, bound, spread, message``; they are
kept in ``diagnostics["warnings"]`` and ``diagnostics["identified"]`` is true
only when there are none.  ``difflaws.fit.report`` prints them as
``WARNING:`` lines.
"""

from __future__ import annotations

import math

REL_TOL = 0.02  # this close to a bound (relative to it) counts as at the bound
MAX_SPREAD = 2.0  # an exponent's interval wider than twice its value: not identified


def flag(parameter: str, reason: str, message: str, bound=None, spread=None) -> dict:
    return {"parameter": parameter, "reason": reason, "bound": bound,
            "spread": None if spread is None else [float(spread[0]), float(spread[1])],
            "message": message}


def check(params: dict, ci: dict, bounds: dict | None = None, exponents=(),
          prefix: str = "") -> list[dict]:
    """Flags for the flat coefficients ``params`` with intervals ``ci``.

    ``bounds`` maps a name to ``(low, high)`` of its search box, ``None`` for an
    open side; ``exponents`` names the coefficients whose relative spread is
    checked; ``prefix`` is put before each name (``N_star.``)."""
    out = []
    for name, value in params.items():
        lo, hi = (bounds or {}).get(name, (None, None))
        spread = ci.get(name)
        where = f"{prefix}{name}"
        side = "" if math.isnan(value) else bound_side(value, lo, hi)
        if side:
            bound = lo if side == "lower" else hi
            out.append(flag(where, f"at {side} bound", f"{where} = {value:.4g} is at the {side} "
                            f"bound {bound:.4g} of its search range: the data do not pin it "
                            "down", bound, spread))
        elif not math.isfinite(value):
            out.append(flag(where, "not identified", f"{where} is not finite: the data do not "
                            "determine it", None, spread))
        elif spread is not None:
            out += _check_interval(where, value, spread, lo, hi, name in exponents)
    return out


def bound_side(value, lo, hi) -> str:
    """``"lower"`` or ``"upper"`` when ``value`` is at (within ``REL_TOL``) or past that side
    of ``(lo, hi)``, a NaN counting as past; ``""`` inside."""
    if lo is not None and not value > lo + REL_TOL * abs(lo):
        return "lower"
    if hi is not None and not value < hi - REL_TOL * abs(hi):
        return "upper"
    return ""


def _check_interval(where, value, spread, lo, hi, exponent) -> list[dict]:
    a, b = spread
    if not (math.isfinite(a) and math.isfinite(b)):
        return [flag(where, "not identified", f"{where}: its bootstrap interval is unbounded "
                     "or undefined", None, spread)]
    for side, bound, beyond in (("lower", lo, lo is not None and a <= lo),
                                ("upper", hi, hi is not None and b >= hi)):
        if beyond:
            return [flag(where, "not identified", f"{where}: its bootstrap interval "
                         f"[{a:.4g}, {b:.4g}] reaches the {side} bound {bound:.4g}", bound,
                         spread)]
    if exponent and a < 0.0 < b:
        return [flag(where, "not identified", f"{where} = {value:.4g} but its bootstrap "
                     f"interval [{a:.4g}, {b:.4g}] holds 0: not even its sign is pinned down",
                     None, spread)]
    if exponent and b - a > MAX_SPREAD * abs(value):
        return [flag(where, "not identified", f"{where} = {value:.4g} but its bootstrap "
                     f"interval [{a:.4g}, {b:.4g}] is wider than {MAX_SPREAD:g}× the value",
                     None, spread)]
    return []


def record(diagnostics: dict, warnings: list[dict]) -> dict:
    """Add ``warnings`` to ``diagnostics`` and set ``identified``; returns ``diagnostics``."""
    diagnostics["warnings"] = diagnostics.get("warnings", []) + list(warnings)
    diagnostics["identified"] = not diagnostics["warnings"]
    return diagnostics
