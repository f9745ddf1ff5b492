"""Shape search and predictions, measured with docs/theory.md §5's formulas (not the backbone's code)."""

import pytest

from difflaws.plan.laws import load_law_set
from difflaws.plan.predict import canonical_noise, predict, round_batch
from difflaws.plan.shapes import candidate_widths, search_shape

T = 2048


def paper_measure(depth, width):
    """docs/theory.md §5: M = 72·L·d² + 12·L·d·T; P = L(12d² + 14d) + d; head dim 64 / 128."""
    head_dim = 64 if width <= 1024 else 128
    params = depth * (12 * width ** 2 + 14 * width) + width
    return {"depth": depth, "width": width, "heads": width // head_dim,
            "flops_per_token_M": 72 * depth * width ** 2 + 12 * depth * width * T,
            "flops_per_token_6P": 6 * params, "non_embedding_params": params}


@pytest.mark.parametrize("target, expected", [
    (5.58e10, (34, 4608)),  # gidd-unif-10b (docs/theory.md §6.5)
    (1.434e10, (19, 3072)),  # gidd-unif-3b
    (1.359e10, (18, 3072)),  # gidd-mask-3b
])
def test_paper_runs_are_found_from_their_flops(target, expected):
    choice = search_shape(target, paper_measure, "flops_per_token_M")
    assert (choice.depth, choice.width) == expected


@pytest.mark.parametrize("target", [3e7, 4e8, 2.2e9, 7.7e10, 1e12])
@pytest.mark.parametrize("key", ["flops_per_token_M", "non_embedding_params"])
def test_choice_matches_target_with_valid_heads(target, key):
    choice = search_shape(target, paper_measure, key, tolerance=0.02)
    assert abs(choice.value / target - 1) <= 0.02
    head_dim = choice.width // choice.heads
    assert head_dim == (64 if choice.width <= 1024 else 128)
    assert choice.width % head_dim == 0


def test_widths_follow_the_head_dim_rule():
    widths = list(candidate_widths(2048))
    assert widths[:3] == [64, 128, 192]
    assert 1024 in widths and 1088 not in widths and 1152 in widths
    assert all(w % 64 == 0 if w <= 1024 else w % 128 == 0 for w in widths)


def test_tiny_target_gets_the_closest_shape():
    choice = search_shape(10.0, paper_measure)
    assert (choice.depth, choice.width) == (1, 64)


def test_round_batch():
    assert round_batch(3000) == 3072
    assert round_batch(1600) == 1536
    assert round_batch(4300) == 4096
    assert round_batch(0.3) == 1


def test_uniform_1e22_prediction_is_the_papers_10b_run():
    """Acceptance: the uniform laws at 1e22 FLOPs give the paper's 10B run (docs/theory.md §6.5)."""
    p = predict(load_law_set("paper"), 1e22, "unif", paper_measure)
    assert p.noise == "uniform"
    assert (p.shape.depth, p.shape.width, p.shape.heads) == (34, 4608, 36)
    assert p.shape.figures["flops_per_token_M"] == pytest.approx(5.58e10, rel=0.01)
    assert p.tokens == pytest.approx(1.82e11, rel=0.02)  # steps × batch rounds D* a little
    assert p.run_compute == pytest.approx(1.02e22, rel=0.03)
    assert p.predicted_nelbo == pytest.approx(2.223, abs=0.002)
    assert p.predicted_nelbo_annealed == pytest.approx(2.169, abs=0.002)
    # the B* law is evaluated at D*, and η* at the rounded batch actually used
    laws, _ = load_law_set("paper").for_noise("uniform")
    assert p.batch_size_tokens_law == pytest.approx(laws.B_star(p.d_star))
    assert p.lr == pytest.approx(laws.lr_star(p.batch_size * T))
    assert p.steps * p.batch_size * T == p.tokens
    assert any("extrapolation" in w for w in p.warnings)


def test_inside_the_fitted_range_no_warning():
    p = predict(load_law_set("paper"), 1e19, "masked", paper_measure)
    assert p.warnings == ()


def test_noise_aliases():
    paper = load_law_set("paper")
    assert canonical_noise("MASK", paper) == "masked"
    assert canonical_noise("high_uniform", paper) == "high-uniform"
