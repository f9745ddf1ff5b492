"""Kaplan et al. (2020), eq. 1.5: L(N, D) = [(N_c/N)^(α_N/α_D) + D_c/D]^α_D.

Unlike Chinchilla's form there is no irreducible loss, and its compute-optimal
frontier under C = 6·N·D is three exact power laws.  With a = α_N/α_D,
minimising (N_c/N)^a + 6·D_c·N/C over N gives a·N_c^a·N^(−a−1) = 6·D_c/C, so

    N*(C) = A_N·C^p,   A_N = (a·N_c^a / (6·D_c))^p,   p = 1/(1 + a)
    D*(C) = C/(6·N*) = C^(1−p) / (6·A_N)
    L*(C) = (1 + a)^α_D · (N_c/A_N)^α_N · C^(−α_N·p)

(at the optimum D_c/D* = a·(N_c/N*)^a, so the bracket is (1 + a)(N_c/N*)^a).
Plain ``math`` only: ``plan --laws`` reads the frontier without numpy or torch.
"""

from __future__ import annotations

import math

NAMES = ("N_c", "D_c", "alpha_N", "alpha_D")


def loss(N, D, p: dict):
    """L(N, D); N and D may be floats or numpy arrays."""
    a = p["alpha_N"] / p["alpha_D"]
    return ((p["N_c"] / N) ** a + p["D_c"] / D) ** p["alpha_D"]


def frontier(p: dict) -> dict[str, tuple[float, float]]:
    """``{"N_star": (A, alpha), "D_star": ..., "L_star": ...}``, y = A·C^alpha (C = 6ND)."""
    n_c, d_c, alpha_n, alpha_d = (float(p[k]) for k in NAMES)
    a = alpha_n / alpha_d
    q = 1.0 / (1.0 + a)
    # in logs: N_c^a overflows float64 long before the law stops making sense
    log_a_n = q * (math.log(a) + a * math.log(n_c) - math.log(6.0) - math.log(d_c))
    log_a_l = alpha_d * math.log1p(a) + alpha_n * (math.log(n_c) - log_a_n)
    return {"N_star": (math.exp(log_a_n), q),
            "D_star": (math.exp(-log_a_n) / 6.0, 1.0 - q),
            "L_star": (math.exp(log_a_l), -alpha_n * q)}
