"""Fit Kaplan's L(N, D) by nonlinear least squares on log-loss.

θ = (ln N_c, ln D_c, α_N, α_D); the residual ln L − α_D·logaddexp(a·(ln N_c − ln N),
ln D_c − ln D) is smooth, so ``scipy.optimize.least_squares`` with its exact
Jacobian converges in a few iterations from each of a small grid of starts.
Intervals are asymptotic: cov(θ) = s²·(JᵀJ)⁻¹ at the optimum with Student-t
quantiles; N_c and D_c get the exponentials of their log-scale intervals.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy import optimize
from scipy.special import stdtrit  # Student-t quantile; lighter than scipy.stats

from difflaws.errors import UserError
from difflaws.fit.result import FitResult
from difflaws_example_fitter.law import NAMES, frontier

MIN_POINTS = 6  # four coefficients plus at least two degrees of freedom for s²
ALPHA_BOUNDS = (1e-3, 3.0)


def _model(theta, ln_n, ln_d):
    """ln L and the pieces the Jacobian reuses."""
    ln_nc, ln_dc, alpha_n, alpha_d = theta
    u = alpha_n / alpha_d * (ln_nc - ln_n)
    v = ln_dc - ln_d
    s = np.logaddexp(u, v)
    return alpha_d * s, u, s, np.exp(u - s)  # w_u = e^u / (e^u + e^v)


def _residuals(theta, ln_n, ln_d, ln_l):
    return ln_l - _model(theta, ln_n, ln_d)[0]


def _jacobian(theta, ln_n, ln_d, ln_l):
    ln_nc, _, alpha_n, alpha_d = theta
    _, u, s, w_u = _model(theta, ln_n, ln_d)
    d_model = np.column_stack([alpha_n * w_u,           # ∂/∂ ln N_c
                               alpha_d * (1.0 - w_u),   # ∂/∂ ln D_c
                               w_u * (ln_nc - ln_n),    # ∂/∂ α_N
                               s - w_u * u])            # ∂/∂ α_D
    return -d_model


def _starts(ln_n, ln_d):
    """Cut-offs above the data (Kaplan's N_c, D_c exceed every model) and moderate exponents."""
    for k_n, k_d, a_n, a_d in itertools.product((2.0, 6.0), (2.0, 6.0), (0.1, 0.4), (0.1, 0.4)):
        yield np.array([ln_n.max() + k_n, ln_d.max() + k_d, a_n, a_d])


class KaplanFitter:
    """Built by ``KaplanFitterConfig``; ``fit(table) -> FitResult``."""

    law = "kaplan"

    def __init__(self, config):
        self.config = config

    def fit(self, table) -> FitResult:
        table.require("params", "tokens", "loss")
        if "run" in table and "step" in table:  # loss curves (run directories): final points
            from difflaws.fit.runs import final_points

            table = final_points(table)
        N, D, L = table["params"], table["tokens"], table["loss"]
        if len(table) < MIN_POINTS:
            raise UserError(f"{table.source}: the kaplan law needs at least {MIN_POINTS} points "
                            f"(one per run), got {len(table)}")
        if len(np.unique(N)) < 2 or len(np.unique(D)) < 2:
            raise UserError(f"{table.source}: the kaplan law needs several model sizes and "
                            "several token counts; a single one leaves N_c or D_c undetermined")
        ln_n, ln_d, ln_l = np.log(N), np.log(D), np.log(L)
        lower = [-np.inf, -np.inf, ALPHA_BOUNDS[0], ALPHA_BOUNDS[0]]
        upper = [np.inf, np.inf, ALPHA_BOUNDS[1], ALPHA_BOUNDS[1]]
        fits = [optimize.least_squares(_residuals, x0, jac=_jacobian, bounds=(lower, upper),
                                       args=(ln_n, ln_d, ln_l), x_scale="jac",
                                       xtol=1e-14, ftol=1e-14, gtol=1e-14)
                for x0 in _starts(ln_n, ln_d)]
        best = min(fits, key=lambda f: f.cost)
        theta, r, J = best.x, best.fun, best.jac
        dof = len(r) - len(theta)
        s2 = float(r @ r) / dof
        cov = s2 * np.linalg.pinv(J.T @ J)
        se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
        q = float(stdtrit(dof, 0.5 + self.config.ci / 2))
        low, high = theta - q * se, theta + q * se

        params = {"N_c": float(np.exp(theta[0])), "D_c": float(np.exp(theta[1])),
                  "alpha_N": float(theta[2]), "alpha_D": float(theta[3])}
        ci = {"N_c": [float(np.exp(low[0])), float(np.exp(high[0]))],
              "D_c": [float(np.exp(low[1])), float(np.exp(high[1]))],
              "alpha_N": [float(low[2]), float(high[2])],
              "alpha_D": [float(low[3]), float(high[3])]}
        compute = 6.0 * N * D
        derived = {name: {"A": A, "alpha": alpha} for name, (A, alpha) in frontier(params).items()}
        derived["compute_range"] = [float(compute.min()), float(compute.max())]
        ss_tot = float(np.sum((ln_l - ln_l.mean()) ** 2))
        at_bound = [k for k, x in zip(NAMES[2:], theta[2:]) if not
                    ALPHA_BOUNDS[0] < x < ALPHA_BOUNDS[1]]
        diagnostics = {
            "n_points": int(len(r)),
            "rmse_log": float(np.sqrt(np.mean(r * r))),
            "r2_log": 1.0 - float(r @ r) / ss_tot if ss_tot > 0 else float("nan"),
            "se": dict(zip(("ln_N_c", "ln_D_c", "alpha_N", "alpha_D"), se.tolist())),
            "n_starts": len(fits),
            "n_starts_at_best": int(sum(np.isclose(f.cost, best.cost, rtol=1e-6, atol=1e-12)
                                        for f in fits)),
            "at_bound": at_bound,
            # an exponent on its bound or an undetermined coefficient: do not trust the law
            "interior": bool(best.success and not at_bound and np.all(np.isfinite(se))),
            "optimizer": best.message,
            "loss": "least squares on log-loss",
        }
        return FitResult(law=self.law, params=params, ci=ci, derived=derived,
                         diagnostics=diagnostics,
                         options={"ci": self.config.ci, "convention": "6P"},
                         extra={"table": table})
