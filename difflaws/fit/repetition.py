"""Effective data and parameters under repetition, per point, with their gradients.

The data-constrained law (docs/fitting.md §8) replaces N and D of the
Chinchilla surface by

    D' = U_D·g(R_D, R_D*),   R_D = D/U_D − 1
    N' = U_N·g(R_N, R_N*),   R_N = N/U_N − 1,   U_N = min(N, N_opt(U_D))
    g(R, R*) = 1 + R*·(1 − e^(−R/R*))

with N_opt(U_D) = (αA/(βB))^(1/α)·U_D^(β/α), the compute-optimal size for
U_D tokens under the base law (unless the table gives ``unique_params``).
With x = [a, b, e, α, β, ρ_D, ρ_N] (A = e^a, B = e^b, E = e^e,
R* = e^ρ), ``log_terms`` returns the two exponents of the log-sum-exp,

    u1 = a − α·ln N',   u2 = b − β·ln D'

and writes their gradients in x.  Everything is in logs, so no term
overflows; 1 − e^(−t) is computed as −expm1(−t), exact for small t.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

SIZE = 7  # entries of x: the five Chinchilla coefficients and ρ_D, ρ_N
MAX_LOG_SCALE = 50.0  # |ρ| beyond this is no plausible R* (e^50 ≈ 5e21 epochs): reject


@nb.njit(cache=True)
def saturation(R, log_rstar):
    """g(R, R*) = 1 + R*·(1 − e^(−R/R*)), ∂g/∂R and ∂g/∂ln R*."""
    rstar = math.exp(log_rstar)
    t = R / rstar
    em = math.expm1(-t)  # e^(−t) − 1
    g = 1.0 - rstar * em
    return g, em + 1.0, rstar * (-em - t * (em + 1.0))


@nb.njit(cache=True)
def log_optimal_params(x, lnU):
    """ln N_opt(U) of the base law: (ln α − ln β + a − b + β·ln U)/α (α, β > 0)."""
    return (math.log(x[3]) - math.log(x[4]) + x[0] - x[1] + x[4] * lnU) / x[3]


@nb.njit(cache=True)
def log_terms(x, lnN, lnD, lnUD, lnUN, g1, g2):
    """u1, u2 for one point, their gradients in x written to ``g1``, ``g2``.

    ``lnUD`` must not exceed ``lnD`` (D ≤ U_D means no repetition).  ``lnUN``
    is the given ln U_N, or NaN to use min(N, N_opt(U_D)).
    """
    a, b, al, be = x[0], x[1], x[3], x[4]
    for k in range(SIZE):
        g1[k] = 0.0
        g2[k] = 0.0
    # data: D' = U_D·g(R_D, R_D*)
    lnDp = lnD
    RD = math.exp(lnD - lnUD) - 1.0
    if RD > 0.0:
        gD, _, dgD = saturation(RD, x[5])
        lnDp = lnUD + math.log(gD)
        g2[5] = -be * dgD / gD
    u2 = b - be * lnDp
    g2[1] = 1.0
    g2[4] = -lnDp
    # parameters: N' = U_N·g(R_N, R_N*)
    from_base = False
    if math.isnan(lnUN):
        lnUN = log_optimal_params(x, lnUD)
        from_base = lnUN < lnN
    lnUN = min(lnUN, lnN)
    lnNp = lnN
    RN = math.exp(lnN - lnUN) - 1.0
    if RN > 0.0:
        gN, dgR, dgN = saturation(RN, x[6])
        lnNp = lnUN + math.log(gN)
        g1[6] = -al * dgN / gN
        if from_base:
            # ∂ln N'/∂ln U_N, then ln U_N = ln N_opt through the base coefficients
            s = 1.0 - (RN + 1.0) * dgR / gN
            # (∂ln N_opt/∂(a, b, α, β) = (1, −1, 1/α − ln N_opt, ln U_D − 1/β)/α, times −α)
            g1[0] = -s
            g1[1] = s
            g1[3] = -s * (1.0 / al - lnUN)
            g1[4] = -s * (lnUD - 1.0 / be)
    u1 = a - al * lnNp
    g1[0] += 1.0
    g1[3] -= lnNp
    return u1, u2


@nb.njit(cache=True)
def predict_log(x, data):
    """log L̂ at every point of ``data`` (rows ln N, ln D, ln L, ln U_D, ln U_N)."""
    n = data.shape[1]
    out = np.empty(n)
    g1 = np.empty(SIZE)
    g2 = np.empty(SIZE)
    for i in range(n):
        u1, u2 = log_terms(x, data[0, i], data[1, i], data[3, i], data[4, i], g1, g2)
        m = max(u1, u2, x[2])
        out[i] = m + math.log(math.exp(u1 - m) + math.exp(u2 - m) + math.exp(x[2] - m))
    return out


@nb.njit(cache=True)
def effective_ratio(R, log_rstar):
    """g(R, R*) elementwise: D'/U_D at R repeated epochs (R ≥ 0)."""
    out = np.empty(R.size)
    for i in range(R.size):
        out[i] = saturation(R[i], log_rstar)[0] if R[i] > 0.0 else 1.0 + R[i]
    return out
