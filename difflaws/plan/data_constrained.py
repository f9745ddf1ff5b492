"""``plan --compute C --unique-tokens U --laws FIT.json``: the best run when data are finite.

Each family of FIT.json whose law gives a loss of unique tokens
(``FitterConfig.loss_model``) is planned on its own: at fixed compute
C = 6·N·D, with N counted as the fit counted it (non-embedding parameters
for runs), the loss L(N, C/(6N), U) is minimised over N.  The answer is N,
D = C/(6N), epochs = D/U and the predicted loss, each with a percentile
interval over the bootstrap draws the fit kept; beside it the same plan with
unlimited data (U = ∞), so the cost of the data limit shows.  The family with
the lowest predicted loss wins; with draws on every side, how often it wins
across paired draws says how sure that is (docs/fitting.md §8).

The minimisation is a scan of ln N over ±25 around ln √(C/6) (the
whole plausible range of splits) followed by a bounded Brent search in the
two cells around the best scan point; an optimum on the scan's edge is no
optimum and is refused.
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from difflaws.errors import UserError
from difflaws.fit.resample import interval
from difflaws.plan.laws import check_budget

SPAN = 25.0  # ln N scanned either side of ln √(C/6): a factor e^25 ≈ 7e10 each way
SCAN = 2001
FLOPS_PER_PARAM_TOKEN = 6.0  # C = 6·N·D


@attrs.frozen
class Optimum:
    params: float
    tokens: float
    loss: float

    def epochs(self, unique: float) -> float:
        return self.tokens / unique


def check_unique(value) -> float:
    try:
        unique = float(value)
    except (TypeError, ValueError):
        raise UserError(f"--unique-tokens {value!r} is not a number; write e.g. "
                        "--unique-tokens 1e10") from None
    if not math.isfinite(unique) or unique <= 0:
        raise UserError(f"--unique-tokens {value!r} must be a positive number of distinct "
                        "training tokens, e.g. --unique-tokens 1e10")
    return unique


def optimum(loss, compute: float, unique: float) -> Optimum | None:
    """argmin over N of loss(N, C/(6N), U); None when the loss has no minimum inside the
    scanned range (a fit that is not identified can fall forever towards one edge)."""
    from scipy.optimize import minimize_scalar

    centre = 0.5 * math.log(compute / FLOPS_PER_PARAM_TOKEN)
    u = np.linspace(centre - SPAN, centre + SPAN, SCAN)

    def at(lnN):
        N = np.exp(lnN)
        return loss(N, compute / (FLOPS_PER_PARAM_TOKEN * N), unique)

    values = np.asarray(at(u), float)
    values = np.where(np.isfinite(values), values, np.inf)
    i = int(np.argmin(values))
    if i in (0, SCAN - 1) or not np.isfinite(values[i]):
        return None
    best = minimize_scalar(lambda v: float(at(np.array([v]))[0]), bounds=(u[i - 1], u[i + 1]),
                           method="bounded", options={"xatol": 1e-10})
    lnN = float(best.x) if best.fun <= values[i] else float(u[i])
    N = math.exp(lnN)
    D = compute / (FLOPS_PER_PARAM_TOKEN * N)
    return Optimum(N, D, float(loss(np.array([N]), np.array([D]), unique)[0]))


def models(path, noise: str | None = None, host=None) -> dict:
    """{family: LossModel} of the fit results in ``path`` (``--laws``)."""
    from difflaws.plan import fitted_laws
    from difflaws.plugins import default_host
    from difflaws.registry import UnknownKindError

    host = host or default_host()
    if str(path) in host.registry.names("lawset"):
        raise UserError(f"--laws {path}: a law set of power laws has no loss of unique tokens; "
                        f"{fix_hint(host)}")
    out, skipped = {}, []
    for group, result in fitted_laws.results(path, host.registry.names("lawset")):
        law = str(result["law"])
        try:
            config = host.registry.get("fitter", law).config
        except UnknownKindError as exc:
            raise UserError(f"--laws {path}: {exc}") from None
        model = config.loss_model(result)
        if model is None:
            skipped.append(law)
            continue
        if model.convention != "6P":
            raise UserError(f"--laws {path}: the {law} fit ({group}) counts compute as "
                            f"{model.convention}, not C = 6·N·D; --unique-tokens needs 6P")
        out.setdefault(group, model)
    if not out:
        laws = ", ".join(sorted(set(skipped)))
        raise UserError(f"--laws {path}: no fit in it gives a loss of unique tokens (it has: "
                        f"{laws}); {fix_hint(host)}")
    if noise is not None:
        if noise not in out:
            raise UserError(f"--noise {noise!r}: no such family in --laws {path} (it has: "
                            f"{', '.join(out)})")
        out = {noise: out[noise]}
    return out


def fix_hint(host) -> str:
    from difflaws.interfaces.fitter import FitterConfig

    able = [k.name for k in host.registry.kinds("fitter")
            if getattr(k.config.loss_model, "__func__", None)
            is not FitterConfig.loss_model.__func__]
    laws = " or ".join(able) or "one with FitterConfig.loss_model"
    return f"pass the JSON of `difflaws fit SOURCE --law {laws} --json` (add --by noise for " \
           "one fit per family)"


def plan(path, compute, unique, noise: str | None = None, host=None) -> dict:
    """The data-constrained plan of every family in ``path``, as a JSON-ready dict."""
    compute, unique = check_budget(compute), check_unique(unique)
    families, draw_losses, warnings = {}, {}, []
    span = f"{math.exp(-SPAN) * math.sqrt(compute / FLOPS_PER_PARAM_TOKEN):.3g}-" \
           f"{math.exp(SPAN) * math.sqrt(compute / FLOPS_PER_PARAM_TOKEN):.3g}"
    for family, model in models(path, noise, host).items():
        best = optimum(model.loss, compute, unique)
        free = optimum(model.loss, compute, math.inf)
        if best is None or free is None:
            warnings.append(f"{family}: left out: its fitted loss has no minimum over N in "
                            f"{span} parameters at this budget (check the fit's diagnostics: "
                            "interior, weakly_identified)")
            continue
        if model.seen_epochs is not None and best.epochs(unique) > model.seen_epochs * 1.01:
            warnings.append(f"{family}: the plan repeats the data {best.epochs(unique):.3g} "
                            f"times, the fit saw at most {model.seen_epochs:.3g} epochs; the "
                            "prediction is an extrapolation")
        entry = {"params": best.params, "tokens": best.tokens, "epochs": best.epochs(unique),
                 "loss": best.loss,
                 "unlimited": {"params": free.params, "tokens": free.tokens, "loss": free.loss},
                 "ci": {}}
        picks = [o for o in (optimum(d, compute, unique) for d in model.draws) if o is not None]
        if len(picks) < len(model.draws):
            warnings.append(f"{family}: {len(model.draws) - len(picks)} of {len(model.draws)} "
                            "bootstrap draws have no minimum over N; the interval uses the rest")
        entry["draws"] = len(picks)
        if picks:
            entry["level"] = model.level
            for name, values in (("params", [o.params for o in picks]),
                                 ("tokens", [o.tokens for o in picks]),
                                 ("epochs", [o.epochs(unique) for o in picks]),
                                 ("loss", [o.loss for o in picks])):
                entry["ci"][name] = list(interval(values, model.level))
            draw_losses[family] = np.array([o.loss for o in picks])
        families[family] = entry
    if not families:
        raise UserError(f"--compute {compute:g}: no family's fitted loss has a minimum over N "
                        f"in {span} parameters; " + "; ".join(warnings) + "; check the fits or "
                        "the budget")
    winner = min(families, key=lambda f: families[f]["loss"])
    levels = {f["level"] for f in families.values() if "level" in f}
    # one level for the table when the fits share it; else each row says its own
    level = levels.pop() if len(levels) == 1 else None
    return {"compute": compute, "unique_tokens": unique, "laws": str(path),
            "flop_convention": "C = 6·N·D, N as the fit counted parameters",
            "level": level, "families": families, "winner": winner,
            "win_fraction": _win_fraction(winner, draw_losses, len(families)),
            "warnings": warnings}


def _win_fraction(winner: str, draw_losses: dict, n_families: int):
    """How often the winner has the lowest loss across paired draws (None: unknown)."""
    if n_families < 2 or len(draw_losses) < n_families:
        return None
    k = min(len(v) for v in draw_losses.values())
    stacked = np.array([v[:k] for v in draw_losses.values()])
    return float(np.mean(np.argmin(stacked, axis=0) == list(draw_losses).index(winner)))


def describe(result: dict) -> str:
    """The plan as text."""
    fams = result["families"]
    level = result["level"]
    mixed = level is None and any("level" in f for f in fams.values())
    ci_head = f"   {round(level * 100)}% CI of loss" if level else \
        ("   CI of loss" if mixed else "")
    width = max(8, *(len(f) for f in fams)) + 2
    lines = [f"plan for C = {result['compute']:.3g} FLOPs with U = "
             f"{result['unique_tokens']:.3g} unique tokens, laws {result['laws']} "
             f"({result['flop_convention']})",
             f"  {'family':<{width}}{'N':>11}{'D':>11}{'epochs':>9}{'loss':>10}{ci_head}"]
    for name, f in fams.items():
        ci = f["ci"].get("loss")
        lines.append(f"  {name:<{width}}{f['params']:>11.4g}{f['tokens']:>11.4g}"
                     f"{f['epochs']:>9.3g}{f['loss']:>10.4f}"
                     + (f"   [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "")
                     + (f" ({round(f['level'] * 100)}%)" if ci and mixed else ""))
    for name, f in fams.items():
        free = f["unlimited"]
        lines.append(f"  {name}: with unlimited data N = {free['params']:.4g}, "
                     f"D = {free['tokens']:.4g}, loss {free['loss']:.4f} "
                     f"({f['loss'] - free['loss']:+.4f} from the data limit)")
    share = result["win_fraction"]
    why = f"; lowest in {share:.0%} of paired bootstrap draws" if share is not None else ""
    if len(fams) > 1:
        lines.append(f"  winner: {result['winner']} (lowest predicted loss{why})")
    lines += [f"  warning: {w}" for w in result["warnings"]]
    return "\n".join(lines)
