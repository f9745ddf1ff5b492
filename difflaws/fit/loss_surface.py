"""The loss surfaces in log space: Huber objective and analytic gradient.

x = [a, b, e, alpha, beta] with A = e^a, B = e^b, E = e^e, and

    log L̂ = LSE(a − α·ln N, b − β·ln D, e)

The objective is Σ wᵢ·huber_δ(log L̂ᵢ − log Lᵢ)/δ: a sum (not a mean) divided by
δ, so its value is O(1) and relative stopping rules work (docs/fitting.md §5).
Weights are bootstrap multiplicities (0, 1, 2, ...).

An x of seven entries, [a, b, e, alpha, beta, ρ_D, ρ_N], is the
data-constrained surface (docs/fitting.md §8): the same log-sum-exp with N
and D replaced by the effective N' and D' of ``difflaws.fit.repetition``.
``lbfgs`` calls this one function by name (numba caches no optimiser that
takes its objective as a value), so both surfaces live here.
"""

import math

import numba as nb
import numpy as np

from difflaws.fit import repetition


@nb.njit(cache=True)
def huber_lse(u1, u2, e, y, delta):
    """huber_δ(LSE(u1, u2, e) − y)/δ and its derivatives in u1, u2, e."""
    # softmax weights relative to the largest term: that one is exactly 1,
    # which saves one exp per point in the hot loop
    if u1 >= u2 and u1 >= e:
        m, p1, p2, p3 = u1, 1.0, math.exp(u2 - u1), math.exp(e - u1)
    elif u2 >= e:
        m, p1, p2, p3 = u2, math.exp(u1 - u2), 1.0, math.exp(e - u2)
    else:
        m, p1, p2, p3 = e, math.exp(u1 - e), math.exp(u2 - e), 1.0
    s = p1 + p2 + p3
    r = m + math.log(s) - y
    ar = abs(r)
    if ar <= delta:
        f = 0.5 * r * r / delta
        dr = r / delta
    else:
        f = ar - 0.5 * delta
        dr = 1.0 if r > 0.0 else -1.0
    dr /= s
    return f, dr * p1, dr * p2, dr * p3


@nb.njit(cache=True, fastmath=False)
def objective(x, grad, data, w, hyper):
    """Σ w·huber_δ(log L̂ − log L)/δ and its gradient.  ``data`` rows: ln N, ln D, ln L."""
    if x.size == repetition.SIZE:
        return repeated_objective(x, grad, data, w, hyper)
    a, b, e, al, be = x[0], x[1], x[2], x[3], x[4]
    delta = hyper[0]
    f = 0.0
    for k in range(5):
        grad[k] = 0.0
    n = data.shape[1]
    for i in range(n):
        wi = w[i]
        if wi == 0.0:
            continue
        lnN = data[0, i]
        lnD = data[1, i]
        fi, d1, d2, d3 = huber_lse(a - al * lnN, b - be * lnD, e, data[2, i], delta)
        f += wi * fi
        grad[0] += wi * d1
        grad[1] += wi * d2
        grad[2] += wi * d3
        grad[3] -= wi * d1 * lnN
        grad[4] -= wi * d2 * lnD
    return f


@nb.njit(cache=True, fastmath=False)
def repeated_objective(x, grad, data, w, hyper):
    """The data-constrained objective.  ``data`` rows: ln N, ln D, ln L, ln U_D, ln U_N
    (NaN: from the base law); ``hyper``: δ and, optionally, a flag that holds the five base
    coefficients fixed (their gradient is zero, so L-BFGS never moves them)."""
    if x[3] <= 0.0 or x[4] <= 0.0 or abs(x[5]) > repetition.MAX_LOG_SCALE \
            or abs(x[6]) > repetition.MAX_LOG_SCALE:
        return np.inf  # N_opt needs α, β > 0; the line search backs away
    delta = hyper[0]
    f = 0.0
    for k in range(repetition.SIZE):
        grad[k] = 0.0
    g1 = np.empty(repetition.SIZE)
    g2 = np.empty(repetition.SIZE)
    for i in range(data.shape[1]):
        wi = w[i]
        if wi == 0.0:
            continue
        u1, u2 = repetition.log_terms(x, data[0, i], data[1, i], data[3, i], data[4, i], g1, g2)
        fi, d1, d2, d3 = huber_lse(u1, u2, x[2], data[2, i], delta)
        f += wi * fi
        for k in range(repetition.SIZE):
            grad[k] += wi * (d1 * g1[k] + d2 * g2[k])
        grad[2] += wi * d3
    if hyper.size > 1 and hyper[1] != 0.0:
        for k in range(5):
            grad[k] = 0.0
    return f
