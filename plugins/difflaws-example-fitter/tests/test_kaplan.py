"""The kaplan fitter as a component: its frontier, its fit and its plan laws.

The frontier is checked against a numerical minimisation of L(N, C/6N), not
against the closed form it implements; the fit against data generated from
known coefficients.  ``fit --plot`` is exercised by the repository's
tests/test_example_plugins.py, through the entry point.
"""

import math

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from difflaws.errors import UserError
from difflaws.fit.table import PointTable
from difflaws.plugins import PluginHost
from difflaws_example_fitter import plugin
from difflaws_example_fitter.law import frontier, loss
from difflaws_example_fitter.plugin import KaplanFitterConfig

TRUE = {"N_c": 1e10, "D_c": 1e11, "alpha_N": 0.2, "alpha_D": 0.25}


def grid(n_sizes=6, n_tokens=6):
    N, D = np.meshgrid(np.geomspace(1e7, 1e9, n_sizes), np.geomspace(1e9, 1e11, n_tokens))
    return N.ravel(), D.ravel()


def fit(table, **options):
    return KaplanFitterConfig(**options).build().fit(table)


@pytest.mark.parametrize("compute", [1e18, 1e21, 1e24])
def test_frontier_is_the_numerical_optimum(compute):
    def loss_at(log_n):  # every N with C = 6·N·D
        n = math.exp(log_n)
        return loss(n, compute / (6 * n), TRUE)

    best = minimize_scalar(loss_at, bracket=(10, 30), tol=1e-12)
    n_opt = math.exp(best.x)
    laws = frontier(TRUE)
    (a_n, p_n), (a_d, p_d), (a_l, p_l) = laws["N_star"], laws["D_star"], laws["L_star"]
    assert a_n * compute ** p_n == pytest.approx(n_opt, rel=1e-5)
    assert a_d * compute ** p_d == pytest.approx(compute / (6 * n_opt), rel=1e-5)
    assert a_l * compute ** p_l == pytest.approx(best.fun, rel=1e-9)


def test_noise_free_points_give_the_coefficients_back():
    N, D = grid()
    result = fit(PointTable({"params": N, "tokens": D, "loss": loss(N, D, TRUE)}))
    for name, value in TRUE.items():
        assert result.params[name] == pytest.approx(value, rel=1e-8), name
    assert result.diagnostics["interior"] and result.diagnostics["rmse_log"] < 1e-10
    assert result.options["convention"] == "6P"


def test_loss_curves_are_reduced_to_final_points():
    """A run directory gives every logged step; the law is fitted on each run's last."""
    N, D = grid(4, 3)
    run = np.array([f"run{i}" for i in range(len(N))])
    early = {"params": N, "tokens": D / 10, "loss": loss(N, D / 10, TRUE) * 1.5,
             "run": run, "step": np.full(len(N), 10.0)}
    final = {"params": N, "tokens": D, "loss": loss(N, D, TRUE), "run": run,
             "step": np.full(len(N), 100.0)}
    table = PointTable({k: np.concatenate([early[k], final[k]]) for k in early})
    result = fit(table)
    assert result.diagnostics["n_points"] == len(N)
    assert result.params["alpha_N"] == pytest.approx(TRUE["alpha_N"], rel=1e-6)


def test_too_little_data_is_a_user_error():
    N, D = grid(2, 2)
    with pytest.raises(UserError, match="at least 6 points"):
        fit(PointTable({"params": N, "tokens": D, "loss": loss(N, D, TRUE)}))
    N = np.geomspace(1e7, 1e9, 8)
    D = np.full(8, 1e10)
    with pytest.raises(UserError, match="several token counts"):
        fit(PointTable({"params": N, "tokens": D, "loss": loss(N, D, TRUE)}))


def test_plan_laws_are_the_frontier():
    contribution = KaplanFitterConfig.plan_laws({"law": "kaplan", "params": TRUE,
                                                 "derived": {"compute_range": [1e17, 1e20]}})
    assert contribution.convention == "6P" and contribution.budgets == (1e17, 1e20)
    for name, (A, alpha) in frontier(TRUE).items():
        assert (contribution.laws[name].A, contribution.laws[name].alpha) == (A, alpha)
    with pytest.raises(UserError, match="needs params"):
        KaplanFitterConfig.plan_laws({"law": "kaplan", "params": {"N_c": 1.0}})


def test_registered_with_its_options():
    host = PluginHost(entry_points=False)
    host.add(plugin, name="example-fitter")
    assert host.registry.get("fitter", "kaplan").config is KaplanFitterConfig
    from difflaws.fit import fit_by  # the Python API finds a plugin law like a built-in one

    N, D = grid()
    table = PointTable({"params": np.tile(N, 2), "tokens": np.tile(D, 2),
                        "loss": np.concatenate([loss(N, D, TRUE), 1.1 * loss(N, D, TRUE)]),
                        "noise": np.repeat(["a", "b"], len(N))})
    results = fit_by("kaplan", table, "noise", host=host, ci=0.9)
    assert set(results) == {"a", "b"} and results["a"].options["ci"] == 0.9
