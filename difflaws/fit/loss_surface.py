"""The Chinchilla loss surface in log space: Huber objective and analytic gradient.

x = [a, b, e, alpha, beta] with A = e^a, B = e^b, E = e^e, and

    log L̂ = LSE(a − α·ln N, b − β·ln D, e)

The objective is Σ wᵢ·huber_δ(log L̂ᵢ − log Lᵢ)/δ: a sum (not a mean) divided by
δ, so its value is O(1) and relative stopping rules work (docs/fitting.md §5).
Weights are bootstrap multiplicities (0, 1, 2, ...).
"""

import math

import numba as nb


@nb.njit(cache=True, fastmath=False)
def objective(x, grad, data, w, hyper):
    """Σ w·huber_δ(log L̂ − log L)/δ and its gradient.  ``data`` rows: ln N, ln D, ln L."""
    a, b, e, al, be = x[0], x[1], x[2], x[3], x[4]
    delta = hyper[0]
    inv = 1.0 / delta
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
        u1 = a - al * lnN
        u2 = b - be * lnD
        # softmax weights relative to the largest term: that one is exactly 1,
        # which saves one exp per point in the hot loop
        if u1 >= u2 and u1 >= e:
            m, p1, p2, p3 = u1, 1.0, math.exp(u2 - u1), math.exp(e - u1)
        elif u2 >= e:
            m, p1, p2, p3 = u2, math.exp(u1 - u2), 1.0, math.exp(e - u2)
        else:
            m, p1, p2, p3 = e, math.exp(u1 - e), math.exp(u2 - e), 1.0
        s = p1 + p2 + p3
        r = m + math.log(s) - data[2, i]
        ar = abs(r)
        if ar <= delta:
            f += wi * 0.5 * r * r * inv
            dr = wi * r * inv
        else:
            f += wi * (ar - 0.5 * delta)
            dr = wi if r > 0.0 else -wi
        dr /= s
        grad[0] += dr * p1
        grad[1] += dr * p2
        grad[2] += dr * p3
        grad[3] -= dr * p1 * lnN
        grad[4] -= dr * p2 * lnD
    return f
