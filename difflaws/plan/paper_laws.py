"""The paper's published laws (docs/theory.md §6.3-6.4), as built-in law sets.

``paper`` is the headline set: Method-1 FLOPs (C = M·D) with the
quadratic-interpolated ("sq") optimum per budget.  ``paper-raw`` uses the
best run per budget; ``paper-6P`` and ``paper-6P-raw`` are the Method-2
(C = 6P·D) fits.  B*(D) and η*(B) come from the latest batch-size notebook
and are the same in every variant (they do not depend on the FLOP
convention).  The frontier was fitted on budgets 5e17-2e20 FLOPs.
"""

from __future__ import annotations

from difflaws.plan.laws import GLOBAL, LawSet, NoiseLaws, PowerLaw

NOISES = ("masked", "low-uniform", "balanced", "high-uniform", "uniform")
FITTED_BUDGETS = (5e17, 2e20)

# (A, alpha) per noise, in NOISES order; columns: M1-raw, M1-sq, M2-raw, M2-sq.
L_STAR = {
    "masked": ((27.418, -0.04977), (27.219, -0.04961), (23.646, -0.04676), (23.102, -0.04622)),
    "low-uniform": ((28.541, -0.05040), (29.120, -0.05088), (24.441, -0.04724), (24.751, -0.04755)),
    "balanced": ((29.113, -0.05066), (29.841, -0.05124), (24.902, -0.04748), (25.338, -0.04789)),
    "high-uniform": ((29.699, -0.05103), (30.194, -0.05141), (25.488, -0.04792), (25.928, -0.04832)),
    "uniform": ((30.367, -0.05150), (31.262, -0.05219), (25.750, -0.04812), (26.759, -0.04903)),
}
D_STAR = {
    "masked": ((34.018, 0.44542), (56.787, 0.43371), (296.718, 0.40159), (294.518, 0.40285)),
    "low-uniform": ((5.443, 0.48788), (15.316, 0.46459), (66.848, 0.43638), (80.692, 0.43305)),
    "balanced": ((9.977, 0.47457), (14.457, 0.46642), (68.394, 0.43586), (87.876, 0.43152)),
    "high-uniform": ((12.933, 0.46849), (81.864, 0.42701), (112.757, 0.42477), (872.332, 0.37881)),
    "uniform": ((22.488, 0.45497), (161.925, 0.41121), (171.671, 0.41571), (744.893, 0.38224)),
}
# M* in the set's own convention: M for Method 1, 6P for Method 2.
N_STAR = {
    "masked": ((0.02940, 0.55458), (0.01761, 0.56629), (0.00337, 0.59842), (0.00340, 0.59714)),
    "low-uniform": ((0.18373, 0.51212), (0.06529, 0.53541), (0.01496, 0.56362), (0.01239, 0.56695)),
    "balanced": ((0.10022, 0.52543), (0.06918, 0.53358), (0.01461, 0.56416), (0.01138, 0.56848)),
    "high-uniform": ((0.07731, 0.53151), (0.01222, 0.57298), (0.00887, 0.57523), (0.00115, 0.62119)),
    "uniform": ((0.04447, 0.54503), (0.00618, 0.58879), (0.00582, 0.58430), (0.00134, 0.61776)),
}

# B*(D) = 10^intercept · D^slope (tokens); η*(B) = 10^intercept · B^slope (B in tokens).
B_STAR = {GLOBAL: (-2.4, 0.8225), "masked": (-1.932, 0.7759), "low-uniform": (-2.101, 0.7916),
          "balanced": (-2.539, 0.8373), "high-uniform": (-2.778, 0.8607),
          "uniform": (-2.950, 0.8787)}
LR_STAR = {GLOBAL: (-2.06, 0.3412), "masked": (-1.984, 0.3295), "low-uniform": (-1.796, 0.2924),
           "balanced": (-2.179, 0.3653), "high-uniform": (-2.192, 0.3628),
           "uniform": (-2.142, 0.3554)}

VARIANTS = {  # name: (column, convention, description)
    "paper": (1, "M", "SCALE paper, Method-1 FLOPs (C = M·D), quadratic-interpolated optima"),
    "paper-raw": (0, "M", "SCALE paper, Method-1 FLOPs (C = M·D), best run per budget"),
    "paper-6P": (3, "6P", "SCALE paper, Method-2 FLOPs (C = 6P·D), quadratic-interpolated optima"),
    "paper-6P-raw": (2, "6P", "SCALE paper, Method-2 FLOPs (C = 6P·D), best run per budget"),
}


def _log_law(intercept_slope) -> PowerLaw:
    intercept, slope = intercept_slope
    return PowerLaw(10.0 ** intercept, slope)


def variant(name: str, **setting) -> LawSet:
    """One variant's laws; ``setting`` (recipe, family tables, source) comes from the plugin."""
    column, convention, description = VARIANTS[name]
    noises = {GLOBAL: NoiseLaws(B_star=_log_law(B_STAR[GLOBAL]), lr_star=_log_law(LR_STAR[GLOBAL]))}
    for noise in NOISES:
        noises[noise] = NoiseLaws(
            N_star=PowerLaw(*N_STAR[noise][column]),
            D_star=PowerLaw(*D_STAR[noise][column]),
            L_star=PowerLaw(*L_STAR[noise][column]),
            B_star=_log_law(B_STAR[noise]),
            lr_star=_log_law(LR_STAR[noise]),
        )
    key = "flops_per_token_M" if convention == "M" else "flops_per_token_6P"
    return LawSet(name, description, convention, noises, key, compute_range=FITTED_BUDGETS,
                  **setting)
