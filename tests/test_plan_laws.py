"""Law sets: the paper's transcribed laws and laws read from `difflaws fit --json`.

Expected numbers come from docs/theory.md's own worked examples (§6.3-6.5, computed
there independently of this code) and from closed forms re-derived here
numerically.
"""

import json
import math

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from difflaws.fit.chinchilla import compute_optimal_frontier
from difflaws.plan import fitted_laws
from difflaws.plan.laws import GLOBAL, check_budget, load_law_set
from difflaws.plan.paper_laws import NOISES, VARIANTS
from difflaws.errors import UserError


@pytest.mark.parametrize("name", sorted(VARIANTS))
@pytest.mark.parametrize("noise", NOISES)
def test_frontier_spends_the_budget(name, noise):
    """N*(C)·D*(C) = C for every transcribed pair (catches a mistyped coefficient)."""
    laws, _ = load_law_set(name).for_noise(noise)
    for C in (1e18, 1e20, 1e22):
        assert laws.N_star(C) * laws.D_star(C) / C == pytest.approx(1.0, rel=0.01)


@pytest.mark.parametrize("noise, compute, d_star, m_star", [
    ("uniform", 1e22, 1.80e11, 5.55e10),  # docs/theory.md §6.3 worked example
    ("masked", 1e22, 1.98e11, 5.06e10),
])
def test_paper_worked_example(noise, compute, d_star, m_star):
    laws, sources = load_law_set("paper").for_noise(noise)
    assert laws.D_star(compute) == pytest.approx(d_star, rel=0.01)
    assert laws.N_star(compute) == pytest.approx(m_star, rel=0.01)
    assert sources["N_star"] == noise


@pytest.mark.parametrize("noise, compute, unannealed, annealed", [
    ("masked", 1e21, 2.472, 2.413),  # docs/theory.md §6.5
    ("uniform", 1e21, 2.506, 2.446),
    ("uniform", 1e22, 2.223, 2.169),
])
def test_paper_loss_predictions(noise, compute, unannealed, annealed):
    law_set = load_law_set("paper")
    laws, _ = law_set.for_noise(noise)
    assert laws.L_star(compute) == pytest.approx(unannealed, abs=0.0015)
    assert laws.L_star(compute) / law_set.annealing_factor == pytest.approx(annealed, abs=0.0015)


def test_global_lr_law_matches_the_papers_predictions():
    """docs/theory.md §6.4: η*(3.1M tokens) ≈ 1.44 and η*(6.3M tokens) ≈ 1.82 with the global law."""
    lr = load_law_set("paper").noises[GLOBAL].lr_star
    assert lr(1536 * 2048) == pytest.approx(1.44, abs=0.01)
    assert lr(3072 * 2048) == pytest.approx(1.82, abs=0.01)


def test_noise_without_own_law_falls_back_to_global(tmp_path):
    """A per-noise frontier plus a global B*(D) law (a list of two `fit --json` outputs)."""
    grouped = {"law": "isoflop", "by": "noise", "comparison": {"law": "x", "params": {}},
               "groups": {"masked": {"law": "isoflop",
                                     "params": {"N_star": {"A": 0.1, "alpha": 0.5},
                                                "D_star": {"A": 1.0, "alpha": 0.5}}}}}
    batch = {"law": "batchsize", "params": {"A": 0.01, "alpha": 0.8}}
    path = tmp_path / "fit.json"
    path.write_text(json.dumps([grouped, batch]))
    law_set = fitted_laws.read(path)
    laws, sources = law_set.for_noise("masked")
    assert sources == {"N_star": "masked", "D_star": "masked", "B_star": GLOBAL}
    assert laws.B_star(1e8) == pytest.approx(0.01 * 1e8 ** 0.8)
    assert law_set.n_star_key == "non_embedding_params"
    with pytest.raises(UserError, match="no laws for it"):
        law_set.for_noise("uniform")


def test_isoflop_json_and_budget_range(tmp_path):
    doc = {"law": "isoflop",
           "params": {"N_star": {"A": 0.05, "alpha": 0.5}, "D_star": {"A": 3.0, "alpha": 0.5},
                      "L_star": {"A": 20.0, "alpha": -0.05}},
           "derived": {"optima": [{"budget": 1e15}, {"budget": 1e16}, {"budget": 1e17}]},
           "options": {"convention": "6P"}}
    path = tmp_path / "iso.json"
    path.write_text(json.dumps(doc))
    law_set = load_law_set(str(path))
    assert law_set.convention == "6P"
    assert law_set.compute_range == (1e15, 1e17)
    assert law_set.extrapolation(1e19) == pytest.approx(100.0)
    laws, _ = law_set.for_noise(GLOBAL)
    assert laws.L_star(1e16) == pytest.approx(20.0 * 1e16 ** -0.05)


def test_chinchilla_frontier_matches_numeric_optimum():
    """The closed form N*(C) against a direct minimisation of L(N, C/(6N))."""
    p = {"E": 1.8172, "A": 477.83, "B": 2143.42, "alpha": 0.3473, "beta": 0.3672}
    frontier = compute_optimal_frontier(p)
    for C in (1e19, 1e22, 1e24):
        loss = lambda u: p["A"] / math.exp(u) ** p["alpha"] + p["B"] / (C / (6 * math.exp(u))) ** p["beta"]
        u = minimize_scalar(loss, bounds=(math.log(1e5), math.log(1e14)), method="bounded",
                            options={"xatol": 1e-10}).x
        assert frontier["N_star"](C) == pytest.approx(math.exp(u), rel=1e-4)
        assert frontier["D_star"](C) == pytest.approx(C / (6 * math.exp(u)), rel=1e-4)


@pytest.mark.parametrize("content, message", [
    ("not json", "not a JSON file"),
    ('{"a": 1}', "no fit results"),
    ('{"law": "lr", "params": {"A": 1.0, "alpha": 0.3}}', "no compute-optimal frontier"),
    ('{"law": "isoflop", "params": {"N_star": {"A": -1, "alpha": 0.5}, '
     '"D_star": {"A": 1, "alpha": 0.5}}}', "positive"),
    ('[{"law": "isoflop", "options": {"convention": "M"}, "params": {"N_star": {"A": 1, '
     '"alpha": 0.5}, "D_star": {"A": 1, "alpha": 0.5}}}, {"law": "isoflop", "options": '
     '{"convention": "6P"}, "params": {"N_star": {"A": 1, "alpha": 0.5}, "D_star": '
     '{"A": 1, "alpha": 0.5}}}]', "conventions"),
])
def test_bad_law_files(tmp_path, content, message):
    path = tmp_path / "laws.json"
    path.write_text(content)
    with pytest.raises(UserError, match=message):
        load_law_set(str(path))


def test_unknown_law_set_name():
    with pytest.raises(UserError, match="neither a built-in law set"):
        load_law_set("papr")


@pytest.mark.parametrize("bad", ["abc", "-1", "0", "nan", "inf"])
def test_bad_budgets(bad):
    with pytest.raises(UserError, match="--compute"):
        check_budget(bad)
    assert check_budget("1e22") == 1e22
    assert np.isfinite(check_budget(3))
