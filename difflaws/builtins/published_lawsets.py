"""Other studies' published compute-optimal laws as ``lawset`` kinds: chinchilla, llama3,
deepseek, mdm-nie.

They are the frontier laws the SCALE paper compares its own against
(docs/theory.md §6.5), with the coefficients its comparison plots use, so
``difflaws plan --laws NAME`` can plan with them and ``difflaws fit --plot
--overlay NAME`` can draw them over a fitted frontier (docs/fitting.md §7).
Each kind's docstring names its source and says what could be checked
against it.

Common ground:

* **Families.** Each set holds one model family: ``autoregressive`` (runs
  with ``[objective] kind = "autoregressive"`` and no ``[noise]`` table,
  labelled so in the results DB) or ``masked``.  ``--noise ar`` is short for
  the former.
* **Recipes.** None of these studies trained with difflaws' recipe, so the
  sets carry none and borrow the default law set's (``load_law_set``); a
  plan emitted from them is the law's N*, D* in the paper's setting.
* **What N* counts** is ``n_star_key`` where the source's count is one
  difflaws measures, and ``n_star_note`` says how the source counts it when
  the key only approximates it (Chinchilla counts all parameters).
"""

from __future__ import annotations

import attrs

from difflaws import hookimpl
from difflaws.interfaces import LawSetConfig

AUTOREGRESSIVE = "autoregressive"
MASKED = "masked"
# the top-level spec tables of each family's runs; None: a table the family must not have
FAMILY_TABLES = {
    AUTOREGRESSIVE: {"objective": {"kind": "autoregressive"}, "noise": None},
    MASKED: {"noise": {"kind": "masked"}},
}
ALIASES = {"ar": AUTOREGRESSIVE, "mask": MASKED, "mdm": MASKED}

# (A, alpha) of y = A·C^alpha, as published (see each kind's docstring)
CHINCHILLA_N = (0.15, 0.49)  # parameters, embeddings included
CHINCHILLA_D = (1.15, 0.51)  # tokens
LLAMA3_D = (0.299, 0.537)  # tokens
DEEPSEEK_M = (0.1715, 0.5243)  # non-embedding FLOPs per token
DEEPSEEK_D = (5.8316, 0.4757)  # tokens
DEEPSEEK_B = (0.2920, 0.3271)  # batch size in tokens, of C
DEEPSEEK_LR = (0.3118, -0.1250)  # peak learning rate, of C
NIE_N = (1.029e-4, 0.634)  # non-embedding parameters
NIE_D = (1619.0, 0.366)  # tokens
NIE_L = (47.97, -0.06153)  # validation loss, nats per token


def _law_set(name: str, description: str, family: str, convention: str, n_star_key: str,
             laws: dict, **fields):
    """One family's ``laws`` (NoiseLaws field -> PowerLaw or (A, alpha)) as a LawSet."""
    from difflaws.plan.laws import LawSet, NoiseLaws, PowerLaw

    own = NoiseLaws(**{k: v if isinstance(v, PowerLaw) else PowerLaw(*v) for k, v in laws.items()})
    return LawSet(name, description, convention, {family: own}, n_star_key,
                  family_tables={family: FAMILY_TABLES[family]}, aliases=ALIASES,
                  default_noise=family, **fields)


@attrs.frozen(kw_only=True)
class ChinchillaLawSetConfig(LawSetConfig):
    """Chinchilla (Hoffmann et al. 2022, arXiv 2203.15556, Approach 1): autoregressive, C = 6ND.

    N*(C) = 0.15·C^0.49 parameters and D*(C) = 1.15·C^0.51 tokens, from the
    envelope of the training curves (Approach 1).  The law holds no L*, B*
    or η*.

    What was checked: the pair reproduces Chinchilla itself, 70B parameters
    on 1.4T tokens (C = 5.88e23): N* = 66.5B, D* = 1.52T.  With two-digit
    coefficients 6·N*·D* = 1.035·C; the rounding allows 3.8 %.  Hoffmann et
    al. count N as *all* parameters, embeddings included (the difference to
    Kaplan et al.'s non-embedding count explains most of their disagreement,
    Pearce and Song 2024, docs/fitting.md §5.7).  difflaws can match a shape
    only on non-embedding parameters or FLOPs per token, so N* is matched to
    non-embedding parameters and ``n_star_note`` says so: the planned model
    is larger than Chinchilla's by its embedding and output head.  The paper
    text was not available here to check the prefactors against.
    """

    def build(self, **context):
        return _law_set(
            "chinchilla", "Chinchilla Approach 1 (autoregressive), C = 6ND", AUTOREGRESSIVE,
            "6P", "non_embedding_params", {"N_star": CHINCHILLA_N, "D_star": CHINCHILLA_D},
            source="Hoffmann et al. 2022, Training Compute-Optimal Large Language Models, "
                   "arXiv 2203.15556, Approach 1",
            n_star_note="all parameters, embeddings included, in the source; matched here to "
                        "non-embedding parameters, so the model is larger by its embeddings")


@attrs.frozen(kw_only=True)
class Llama3LawSetConfig(LawSetConfig):
    """Llama 3 (Llama Team 2024, arXiv 2407.21783, §3.2.1): autoregressive D*(C), C = 6ND.

    D*(C) = 0.299·C^0.537 tokens, fitted to the isoFLOP minima of budgets
    6e18 to 1e22 FLOPs; the paper's text rounds it to 0.29·C^0.53.  It gives
    no model-size law: N* = C/(6·D*) = 0.5574·C^0.463 (the comparison
    notebook's "0.6"), exact under C = 6ND.

    What was checked: the digitised isoFLOP points shipped in
    ``tests/data/llama3_isoflops.csv`` give α ≈ 0.53 (docs/fitting.md §3),
    and the paper states 16.55T tokens and 402B parameters at 3.8e25 FLOPs.
    The unrounded law gives 16.3T tokens and 389B there, the rounded one
    only 10.5T: the paper's own extrapolation used the unrounded values, so
    they are kept.  Whether the paper's N counts embeddings is not stated;
    N* is matched to non-embedding parameters.
    """

    def build(self, **context):
        from difflaws.plan.laws import PowerLaw

        A, alpha = LLAMA3_D
        return _law_set(
            "llama3", "Llama 3 isoFLOP law (autoregressive), C = 6ND", AUTOREGRESSIVE, "6P",
            "non_embedding_params",
            {"N_star": PowerLaw(1.0 / (6.0 * A), 1.0 - alpha), "D_star": LLAMA3_D},
            compute_range=(6e18, 1e22),
            source="Llama Team 2024, The Llama 3 Herd of Models, arXiv 2407.21783, §3.2.1",
            n_star_note="derived as C/(6·D*); the source does not say whether its N counts "
                        "embeddings; matched here to non-embedding parameters")


@attrs.frozen(kw_only=True)
class DeepSeekLawSetConfig(LawSetConfig):
    """DeepSeek LLM (Bi et al. 2024, arXiv 2401.02954, Eq. 1 and 4): autoregressive, C = M·D.

    The frontier (Eq. 4), from isoFLOP profiles at budgets 1e17 to 3e20:
    M*(C) = 0.1715·C^0.5243 non-embedding FLOPs per token, with M =
    72·L·d² + 12·L·d·T, exactly difflaws' M (docs/theory.md §5), and
    D*(C) = 5.8316·C^0.4757 tokens.  The hyper-parameters (Eq. 1):
    B_opt(C) = 0.2920·C^0.3271 tokens and η_opt(C) = 0.3118·C^−0.1250.

    difflaws' hyper-parameter laws are B*(D) and η*(B).  They follow exactly
    by composing the power laws (``PowerLaw.along``): with D = d·C^δ,
    C = (D/d)^(1/δ), so

        B*(D) = 0.2920·5.8316^(−0.3271/0.4757)·D^(0.3271/0.4757) = 0.08686·D^0.68762

    and with B = b·C^γ, C = (B/b)^(1/γ), so

        η*(B) = 0.3118·0.2920^(0.1250/0.3271)·B^(−0.1250/0.3271) = 0.19479·B^−0.38215.

    Along DeepSeek's own frontier they give its B_opt(C) and η_opt(C) back;
    off it they are the natural reading, not something DeepSeek measured.
    η is the peak rate of DeepSeek's AdamW runs (standard parameterization,
    multi-step schedule), not the base rate of the CompleteP recipe a plan
    borrows, which a note says.

    What was checked: all six coefficients, the budget range and M against
    a secondary reproduction of the paper's equations (not the paper
    itself); M*·D* = 1.00012·C, within the four-digit rounding (3e-4).
    """

    def build(self, **context):
        from difflaws.plan.laws import PowerLaw

        D, B, lr = PowerLaw(*DEEPSEEK_D), PowerLaw(*DEEPSEEK_B), PowerLaw(*DEEPSEEK_LR)
        return _law_set(
            "deepseek", "DeepSeek LLM laws (autoregressive), C = M·D", AUTOREGRESSIVE, "M",
            "flops_per_token_M",
            {"N_star": DEEPSEEK_M, "D_star": D, "B_star": B.along(D), "lr_star": lr.along(B)},
            compute_range=(1e17, 3e20),
            source="Bi et al. 2024, DeepSeek LLM: Scaling Open-Source Language Models with "
                   "Longtermism, arXiv 2401.02954, Eq. 1 and 4",
            n_star_note="non-embedding FLOPs per token with attention (72·L·d² + 12·L·d·T), "
                        "as difflaws' M counts them",
            notes=("η* is DeepSeek's AdamW peak learning rate, not a CompleteP base rate; set "
                   "optimizer.lr for the recipe you train with",))


@attrs.frozen(kw_only=True)
class NieMaskedLawSetConfig(LawSetConfig):
    """Masked diffusion (Nie et al. 2024, arXiv 2410.18514): N*, D*, L* of MDMs, C = 6ND.

    From "Scaling up Masked Diffusion Models on Text", isoFLOP profiles at
    budgets 6e18 to 1e20 FLOPs: N*(C) = 1.029e−4·C^0.634 non-embedding
    parameters, D*(C) = 1619·C^0.366 tokens and L*(C) = 47.97·C^−0.06153, the
    validation loss on SlimPajama with the Llama-2 tokenizer (32k vocabulary)
    at the end of cosine-decayed runs.  That L* is not a difflaws NELBO on
    another tokenizer and data, and it is already annealed (annealing factor
    1); a note says so.

    What was checked, against the authors' released code and figures (the
    SMDM repository): the model-size figure's axis is non-embedding
    parameters, and the training script sets the steps from C = 6·N·D with N
    its non-embedding count (e.g. 169.9M for the 18-layer, width-768
    model), so N* is non-embedding parameters, not total ones; the laws
    reproduce the plotted optima (N* = 4.9e8, L* = 2.82 at 1e20) to reading
    precision.  6·N*·D* = 0.99957·C, within the rounding (8e-4).  The paper
    text was not available here.
    """

    def build(self, **context):
        return _law_set(
            "mdm-nie", "Nie et al. masked diffusion laws, C = 6ND", MASKED, "6P",
            "non_embedding_params", {"N_star": NIE_N, "D_star": NIE_D, "L_star": NIE_L},
            compute_range=(6e18, 1e20), annealing_factor=1.0,
            source="Nie et al. 2024, Scaling up Masked Diffusion Models on Text, "
                   "arXiv 2410.18514",
            n_star_note="non-embedding parameters, as the source's code counts them",
            notes=("L* is the source's validation loss (SlimPajama, Llama-2 tokenizer, "
                   "cosine-decayed runs), not comparable to a NELBO on other data",))


@hookimpl
def difflaws_register_kinds(register):
    register("lawset", "chinchilla", ChinchillaLawSetConfig)
    register("lawset", "llama3", Llama3LawSetConfig)
    register("lawset", "deepseek", DeepSeekLawSetConfig)
    register("lawset", "mdm-nie", NieMaskedLawSetConfig)
