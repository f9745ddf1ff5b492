"""Admissible noise processes: forward chains with non-negative rates (docs/theory.md §2.7).

A mixing distribution π_λ on [λ_min, λ_max] defines a valid forward Markov chain
exactly when every transition λ_s → λ_t < λ_s has non-negative entries,

    γ(z) = σ(−λ_t)π_{λ_t}(z) − (α_t/α_s)·σ(−λ_s)π_{λ_s}(z) ≥ 0,

i.e. when g_z(λ) = e^{−λ}·π_λ(z) is non-increasing in λ for every token z, i.e. when

    π_λ(z) − ∂_λπ_λ(z) ≥ 0        for every z and every λ ∈ [λ_min, λ_max].

That is the numerator of the ELBO weight w_λ(z, x), so "w_λ ≥ 0 everywhere" and
"the process is a Markov chain" are one condition.  Where it fails, w_λ < 0 and the
"NELBO" is no longer a bound (a denoiser that is wrong where w < 0 scores *below*
the data entropy).

This module has two halves:

* closed-form regions for the built-in kinds (``hybrid_violation``,
  ``gidd_violation``, ``gidd_critical_log_snr``), in plain ``math`` so the configs
  can call them at spec-load time without importing torch;
* ``check(process)``, a generic numerical check for any ``NoiseProcess``, from its
  own π and ∂π (``mixing_with_derivative``; ``mixing_classes`` where tokens share π).
  ``NoiseConfig.build`` runs it once on every process whose config does not prove its
  region in closed form (``NoiseConfig.proves_admissible``).
"""

from __future__ import annotations

import math

import attrs

from difflaws.errors import UserError

GRID = 33  # λ points read densely (all V tokens each), endpoints included
CLASS_GRID = 65  # λ points when the process reports token classes (``mixing_classes``)
TOL = 1e-6  # allowed negative ELBO weight w = 1 − ∂_λ log π_λ(z): rounding, not a rate
SUM_TOL = 1e-4  # allowed |Σ_z π_λ(z) − 1|
CHUNK_ELEMENTS = 1 << 19  # λ rows per pass = CHUNK_ELEMENTS // V (≥ 1): 4 MB, cache-sized
SECTION = "docs/theory.md §2.7"


# -- scalar helpers (no torch) ---------------------------------------------------
def _logaddexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    hi, lo = max(a, b), min(a, b)
    return hi + math.log1p(math.exp(lo - hi))


# -- hybrid: s_λ = σ(a·λ + b) --------------------------------------------------
def hybrid_shift_bound(scale: float, log_snr_min: float):
    """The admissible shifts for this scale: ``None`` (every shift) or (side, b*).

    side ``">="``: a > 1 needs a·σ(−(a·λ_min + b)) ≤ 1, i.e. b ≥ b* = log(a − 1) − a·λ_min.
    side ``"<="``: a < −1 needs |a|·σ(a·λ_min + b) ≤ 1, i.e. b ≤ b* = −log(|a| − 1) − a·λ_min.
    """
    a = scale
    if abs(a) <= 1:
        return None
    if a > 1:
        return ">=", math.log(a - 1) - a * log_snr_min
    return "<=", -math.log(-a - 1) - a * log_snr_min


def hybrid_violation(shift: float, scale: float, log_snr_min: float, log_snr_max: float):
    """None when the hybrid is admissible on [λ_min, λ_max], else a message naming the
    violated inequality and the fixes (docs/theory.md §2.7)."""
    if math.isinf(shift):  # exactly pure masked / pure uniform: π constant in λ
        return None
    bound = hybrid_shift_bound(scale, log_snr_min)
    if bound is None:
        return None
    side, b_star = bound
    a, b = scale, shift
    if (b >= b_star) if side == ">=" else (b <= b_star):
        return None
    # the weights are monotone in λ: negative below λ_c, where a·λ_c + b = k
    k = math.log(a - 1) if a > 1 else -math.log(-a - 1)
    lam_c = (k - b) / a
    where = (f"for every λ in [{log_snr_min:g}, {log_snr_max:g}]" if lam_c >= log_snr_max
             else f"for λ < {lam_c:.6g}")
    if a > 1:
        token, weight, needs = ("every non-mask token", "1 − scale·σ(−(scale·λ + shift))",
                                "σ(−(scale·log_snr_min + shift)) ≤ 1/scale")
        shift_fix = f"raise shift to at least {b_star:.6g}"
    else:
        token, weight, needs = ("the mask", "1 + scale·σ(scale·λ + shift)",
                                "σ(scale·log_snr_min + shift) ≤ 1/|scale|")
        shift_fix = f"lower shift to at most {b_star:.6g}"
    fixes = ["use |scale| ≤ 1 (admissible for every shift and λ range)", shift_fix]
    if lam_c < log_snr_max:
        fixes.append(f"raise log_snr_min to at least {lam_c:.6g}")
    return (f"scale = {a:g}, shift = {b:g}: the forward process has negative rates {where} "
            f"(the ELBO weight of {token}, {weight}, is negative there, so the NELBO is not a "
            f"bound); needs {needs}; " + ", or ".join(fixes) + f" ({SECTION})")


# -- gidd: c_t = B·[t(1−t)]^(γ/2), λ(t) = log(1−t) − log(t + c_t) --------------------
def gidd_log_b(p_u: float, gamma: float) -> float:
    """log B with B = 2^γ·p_u/(1 − p_u); p_u = 0 is pure masking (B = 0)."""
    if p_u == 0:
        return float("-inf")
    return gamma * math.log(2) + math.log(p_u) - math.log1p(-p_u)


def _gidd_lam(log_u: float, log_b: float, gamma: float) -> float:
    """λ at time t = 1 − u, from log u (precise near t = 1)."""
    log_t = math.log1p(-math.exp(log_u))
    log_c = log_b + 0.5 * gamma * (log_t + log_u)
    return log_u - _logaddexp(log_t, log_c)


def gidd_critical_log_snr(p_u: float, gamma: float) -> float:
    """Λ*: the gidd process is admissible on [λ_min, λ_max] iff λ_min ≥ Λ* (−inf: always).

    Along time, e^{−λ}π(mask) = t/(1−t) always grows, and e^{−λ}π(v) = c_t/(N(1−t)) grows
    iff γ/2 ≥ (γ − 1)·t, i.e. for every t when γ ≤ 2 and for t ≤ t* = γ/(2(γ − 1)) when
    γ > 2.  λ(t) decreases wherever f(t) = c_t·((2γ−2)t − γ)/(2t) < 1, which holds for all
    t ≤ t*; beyond t*, log f is concave, so λ may rise once (f > 1 on one interval) before
    falling to −∞.  The range must avoid every t > t*, so Λ* = sup_{t ≥ t*} λ(t):
    λ(t*) in closed form, or the top of that rise, λ(t₂) with f(t₂) = 1, if it is higher.
    """
    return _gidd_critical(p_u, gamma)[0]


def _gidd_critical(p_u: float, gamma: float) -> tuple[float, float]:
    """(Λ*, λ(t*)); Λ* > λ(t*) when λ(t) climbs back up past t*."""
    log_b = gidd_log_b(p_u, gamma)
    if gamma <= 2 or log_b == -math.inf:
        return -math.inf, -math.inf
    u_star = (gamma - 2) / (2 * (gamma - 1))  # 1 − t*
    log_u_star = math.log(u_star)
    lam_star = _gidd_lam(log_u_star, log_b, gamma)

    # with u = 1 − t: d log f/dt = (γ/2 − 1)/(1 − u) − (γ/2)/u + 1/(u* − u), increasing in u
    def dlogf(log_u):
        u = math.exp(log_u)
        return (gamma / 2 - 1) / (1 - u) - (gamma / 2) / u + 1 / (u_star - u)

    def logf(log_u):
        u = math.exp(log_u)
        log_c = log_b + 0.5 * gamma * (math.log1p(-u) + log_u)
        return log_c + math.log(2 * gamma - 2) + math.log(u_star - u) - math.log(2 * (1 - u))

    lo, hi = -700.0, log_u_star
    for _ in range(200):  # the peak of f: dlogf < 0 below it (in u), > 0 above
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if dlogf(mid) < 0 else (lo, mid)
    peak = 0.5 * (lo + hi)
    if logf(peak) <= 0:
        return lam_star, lam_star  # λ(t) decreases on all of (0, 1)
    lo, hi = -700.0, peak  # t₂ > t_peak: log f rises in u from −∞ to its peak
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if logf(mid) < 0 else (lo, mid)
    lam_2 = _gidd_lam(hi, log_b, gamma)  # f(t₂) = 1: a local maximum of λ(t), dλ/dt = 0
    return max(lam_star, math.nextafter(lam_2, math.inf)), lam_star


def gidd_violation(p_u: float, gamma: float, log_snr_min: float, log_snr_max: float):
    """None when gidd(p_u, γ) is admissible on [λ_min, λ_max], else a message with fixes.

    ``p_u`` is the floored value the process uses (``GiddNoiseConfig.floored_p_u``).
    """
    crit, lam_star = _gidd_critical(p_u, gamma)
    if log_snr_min >= crit:
        return None
    t_star = gamma / (2 * (gamma - 1))
    turn = (f"; λ(t) is not monotone there either: it falls to {lam_star:.6g} at t*, then "
            f"climbs back to {crit:.6g}, so λ up to {crit:.6g} also maps to those times"
            if crit > lam_star else "")
    where = (f"for every λ in [{log_snr_min:g}, {log_snr_max:g}]" if crit > log_snr_max
             else f"for λ < {crit:.6g}")
    return (f"gamma = {gamma:g} with p_u = {p_u:g}: the forward process has negative rates "
            f"{where} (past t* = γ/(2(γ − 1)) = {t_star:.4g} the uniform part c_t/(1 − t) of "
            f"the noise shrinks, so the ELBO weight of a non-mask token is negative and the "
            f"NELBO is not a bound{turn}); needs log_snr_min ≥ {crit:.6g}; use gamma ≤ 2 "
            f"(admissible for every p_u and λ range), or raise log_snr_min to at least "
            f"{crit:.6g} ({SECTION})")


# -- the generic numerical check -----------------------------------------------
@attrs.frozen
class Admissibility:
    """The worst point of a numerical check: where w = 1 − ∂_λ log π_λ(z) is smallest.

    ``value`` = π_λ(z) − ∂_λπ_λ(z) there; ``weight`` = value/π_λ(z), the ELBO weight
    w_λ(z, x) of that z for any clean x ≠ z (scale-free, so the check compares it to
    ``tol``).  ``failing`` is the (lowest, highest) grid λ where the weight is below
    −tol, or None, and ``passing_above`` the next grid λ above it.  ``problem`` names
    anything else wrong with π (non-finite values, negative entries, rows that do not
    sum to 1).
    """

    log_snr: float
    token: int
    value: float
    weight: float
    log_snr_min: float
    log_snr_max: float
    tol: float
    failing: tuple[float, float] | None = None
    problem: str = ""
    passing_above: float | None = None  # the first grid λ above ``failing`` that passes

    @property
    def ok(self) -> bool:
        return self.failing is None and not self.problem

    def message(self, name: str) -> str:
        where = f"on [{self.log_snr_min:g}, {self.log_snr_max:g}]"
        if self.problem:
            return f"noise kind {name}: {self.problem} {where}; π_λ must be a distribution"
        lo, hi = self.failing
        fixes = "make π_λ(z) grow no faster than e^λ (∂_λ log π_λ(z) ≤ 1)"
        if self.passing_above is not None:
            fixes += f", or raise log_snr_min to at least {self.passing_above:.4g}"
        return (f"noise kind {name}: not a valid forward process {where}: at λ = "
                f"{self.log_snr:.4g}, token {self.token} has π_λ − ∂_λπ_λ = {self.value:.4g} < 0 "
                f"(ELBO weight 1 − ∂_λ log π_λ = {self.weight:.4g}; negative on the grid for "
                f"λ in [{lo:.4g}, {hi:.4g}]), so the transitions have negative entries and the "
                f"NELBO is not a bound.  Needs π_λ(z) − ∂_λπ_λ(z) ≥ 0 for every token z and λ "
                f"({SECTION}); {fixes}")


def check(process, grid=None, tol: float = TOL, *, name: str | None = None,
          raise_error: bool = True) -> Admissibility:
    """Check numerically that ``process`` has non-negative rates on [λ_min, λ_max].

    Evaluates w = (π_λ − ∂_λπ_λ)/π_λ for every token on a λ grid (``grid`` points
    spaced evenly, endpoints included, or explicit λ values; default 33 points, 65 for
    a process with token classes) through the process's own π and ∂π
    (``mixing_with_derivative``, or ``mixing`` and ``mixing_derivative``), in float64.
    All V tokens are read in one vectorised pass per chunk of λ rows, chunks sized so
    memory stays O(chunk × V); a process that reports classes of tokens sharing π
    (``mixing_classes``, e.g. mask/uniform mixtures) is read per class instead.  Also
    checks that π_λ is finite, non-negative and sums to 1.  Returns the worst point;
    raises ``UserError`` (naming ``name``, the λ, the token and the fix) if any weight is
    below −``tol``, unless ``raise_error`` is False.

    A grid can miss a violation narrower than its spacing; the built-in kinds are
    checked in closed form instead (``NoiseConfig.proves_admissible``).
    """
    import torch

    lo_lam, hi_lam = float(process.log_snr_min), float(process.log_snr_max)

    def spaced(n):
        return torch.linspace(lo_lam, hi_lam, max(int(n), 2), dtype=torch.float64, device="cpu")

    if grid is None or isinstance(grid, int):
        lam = spaced(grid or CLASS_GRID)
    else:
        lam = torch.as_tensor(grid, dtype=torch.float64, device="cpu").reshape(-1)
    label = name or type(process).__qualname__
    V = int(process.vocab_size)
    with torch.no_grad():
        classes = getattr(process, "mixing_classes", lambda _: None)(lam)
        if classes is None and grid is None:
            lam = spaced(GRID)
        if classes is not None:
            pi, dpi, tokens, sizes = classes
            pi, dpi = pi.to(torch.float64), dpi.to(torch.float64)
            sizes = sizes.to(torch.float64)
            problem = _distribution_problem(pi, dpi, lam, sizes, tokens)
            row_max, row_arg = _rates(pi, dpi).max(-1)
            row_tok = tokens[row_arg]
            margin = pi - dpi  # [λ, K]: the worst point's value is read from here
        else:
            rows = max(1, CHUNK_ELEMENTS // V)
            maxes, toks, problem, buf = [], [], "", None
            for start in range(0, lam.shape[0], rows):
                lam_c = lam[start:start + rows]
                pi, dpi = _mixing_with_derivative(process, lam_c)
                if pi.shape != (lam_c.shape[0], V) or dpi.shape != pi.shape:
                    raise UserError(f"noise kind {label}: mixing(λ) of shape "
                                    f"{tuple(lam_c.shape)} returned {tuple(pi.shape)} (and ∂π "
                                    f"{tuple(dpi.shape)}); expected {(lam_c.shape[0], V)}")
                if not problem:  # reductions only: cheap next to building π
                    problem = _distribution_problem(pi, dpi, lam_c)
                if buf is None or buf.shape != pi.shape:
                    buf = torch.empty_like(pi)
                m, a = _rates(pi, dpi, out=buf).max(-1)
                maxes.append(m)
                toks.append(a)
            row_max, row_tok = torch.cat(maxes), torch.cat(toks)
        weight = 1 - row_max  # the smallest ELBO weight at each λ
        i = int(weight.argmin())
        tok = int(row_tok[i])
        if classes is not None:
            value = float(margin[i, row_arg[i]])
        else:
            pi_i, dpi_i = _mixing_with_derivative(process, lam[i:i + 1])
            value = float(pi_i[0, tok] - dpi_i[0, tok])
    bad = lam[weight < -tol]
    failing = (float(bad.min()), float(bad.max())) if bad.numel() else None
    above = lam[lam > failing[1]] if failing else lam[:0]
    report = Admissibility(
        log_snr=float(lam[i]), token=tok, value=value, weight=float(weight[i]),
        log_snr_min=lo_lam, log_snr_max=hi_lam, tol=tol, problem=problem, failing=failing,
        passing_above=float(above.min()) if above.numel() else None)
    if raise_error and not report.ok:
        raise UserError(report.message(label))
    return report


def _rates(pi, dpi, out=None):
    """∂_λ log π_λ = ∂π/π, with no constraint (−inf) where π = ∂π = 0 and a failure (+inf)
    where π = 0 and ∂π > 0: π about to leave 0 faster than e^λ allows."""
    import torch

    rate = torch.div(dpi, pi, out=out)
    return rate.nan_to_num_(nan=-math.inf, posinf=math.inf, neginf=-math.inf)


def _mixing_with_derivative(process, log_snr):
    import torch

    if hasattr(process, "mixing_with_derivative"):
        pi, dpi = process.mixing_with_derivative(log_snr)
    else:
        pi, dpi = process.mixing(log_snr), process.mixing_derivative(log_snr)
    return pi.to(torch.float64), dpi.to(torch.float64)


def _distribution_problem(pi, dpi, lam, sizes=None, tokens=None) -> str:
    """Non-finite, negative or unnormalised π (or non-finite ∂π), or "" if none.

    ``sizes``/``tokens``: the columns are classes of that many tokens (``mixing_classes``).
    """
    total = pi.sum(-1) if sizes is None else pi @ sizes
    dtotal = dpi.sum(-1) if sizes is None else dpi @ sizes
    low = pi.amin(-1)
    token = (lambda j: j) if tokens is None else (lambda j: int(tokens[j]))
    bad = ~(total.isfinite() & dtotal.isfinite())
    if bool(bad.any()):
        i = int(bad.nonzero()[0])
        j = int((~(pi[i].isfinite() & dpi[i].isfinite())).nonzero()[0])
        return (f"mixing or its λ-derivative is not finite at λ = {float(lam[i]):.4g}, "
                f"token {token(j)}")
    if bool((low < 0).any()):
        i = int(low.argmin())
        j = int(pi[i].argmin())
        return f"π_λ(z) = {float(pi[i, j]):.4g} < 0 at λ = {float(lam[i]):.4g}, token {token(j)}"
    err = (total - 1).abs()
    if bool((err > SUM_TOL).any()):
        i = int(err.argmax())
        return f"π_λ sums to {float(total[i]):.6g}, not 1, at λ = {float(lam[i]):.4g}"
    return ""
