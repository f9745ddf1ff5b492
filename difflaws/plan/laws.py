"""Law sets: the power laws a plan is read from.

A law set holds, per noise type, the compute-optimal frontier

    N*(C) = A·C^α   (FLOPs per token M or 6P, or parameters: ``n_star_key``)
    D*(C) = A·C^α   (training tokens)
    L*(C) = A·C^α   (NELBO, nats/token, un-annealed)

and the hyper-parameter laws

    B*(D) = A·D^α   (batch size in tokens, D = training tokens)
    η*(B) = A·B^α   (base learning rate, B in tokens).

``"all"`` holds the laws fitted across every noise type; a noise type
without its own B*/η* law falls back to them.  A "noise type" is a model
family in general: the label ``difflaws fit --by noise`` groups runs by,
which for a non-diffusion family (an autoregressive one) is no noise
process at all.  The paper's published laws ship as built-in sets (``paper``
and its variants, see ``paper_laws.py``), other studies' as further
built-in sets (docs/fitting.md §7); a user's own come from
``difflaws fit --json`` (see ``fitted_laws.py``).
"""

from __future__ import annotations

import copy
import math

import attrs

from difflaws.errors import UserError

CONVENTIONS = ("M", "6P")  # C = M·D (docs/theory.md §5 method 1) or C = 6P·D (method 2)
# What N* measures, as the backbone figure a shape is matched on.
N_STAR_UNITS = {"flops_per_token_M": "FLOPs/token (M)", "flops_per_token_6P": "FLOPs/token (6P)",
                "non_embedding_params": "non-embedding parameters"}
# N* in parameters per unit of N*: 6P is 6 FLOPs per parameter; M has no fixed ratio (it
# depends on the shape, docs/theory.md §5), so an M-unit N* has no parameter count
PARAMETERS_PER_UNIT = {"non_embedding_params": 1.0, "flops_per_token_6P": 1.0 / 6.0}
GLOBAL = "all"
ANNEALING_FACTOR = 1.0245  # un-annealed / 20%-cooldown NELBO (docs/theory.md §3)


@attrs.frozen
class PowerLaw:
    """y = A·x^alpha."""

    A: float
    alpha: float

    def __call__(self, x: float) -> float:
        return self.A * x ** self.alpha

    def describe(self, x: str = "C") -> str:
        return f"{self.A:.4g}·{x}^{self.alpha:.4g}"

    def along(self, inner: "PowerLaw") -> "PowerLaw":
        """This law of C re-expressed as a law of x = inner(C).

        With y = A·C^α and x = a·C^β, C = (x/a)^(1/β), so y = A·a^(−α/β)·x^(α/β):
        exact wherever x and C are related by ``inner`` (on the frontier it describes).
        """
        ratio = self.alpha / inner.alpha
        return PowerLaw(self.A * inner.A ** -ratio, ratio)


@attrs.frozen
class NoiseLaws:
    """The laws of one noise type; any may be missing (None)."""

    N_star: PowerLaw | None = None
    D_star: PowerLaw | None = None
    L_star: PowerLaw | None = None
    B_star: PowerLaw | None = None
    lr_star: PowerLaw | None = None

    def merged_over(self, fallback: "NoiseLaws") -> "NoiseLaws":
        """These laws, with each missing one taken from ``fallback``."""
        return NoiseLaws(**{f.name: getattr(self, f.name) or getattr(fallback, f.name)
                            for f in attrs.fields(NoiseLaws)})

    def sources(self, fallback: "NoiseLaws", own: str) -> dict[str, str]:
        return {f.name: (own if getattr(self, f.name) else GLOBAL)
                for f in attrs.fields(NoiseLaws)
                if getattr(self, f.name) or getattr(fallback, f.name)}


@attrs.frozen
class LawSet:
    name: str
    description: str
    convention: str = attrs.field(validator=attrs.validators.in_(CONVENTIONS))
    noises: dict = attrs.Factory(dict)  # noise name (or "all") -> NoiseLaws
    n_star_key: str = attrs.field(default="flops_per_token_M",
                                  validator=attrs.validators.in_(tuple(N_STAR_UNITS)))
    compute_range: tuple | None = None  # budgets (FLOPs) the frontier was fitted on
    annealing_factor: float = ANNEALING_FACTOR
    recipe: dict = attrs.Factory(dict)  # spec tables the laws were measured under
    # family -> the top-level spec tables its runs need, e.g. {"noise": {"kind": ...}};
    # a table given as None is one the family must not have (a family without noise)
    family_tables: dict = attrs.Factory(dict)
    noise_tables: dict = attrs.Factory(dict)  # shorthand: family -> its [noise] table alone
    aliases: dict = attrs.Factory(dict)  # short name -> noise type, e.g. "unif" -> "uniform"
    default_noise: str = GLOBAL  # the noise type a plan uses unless told
    source: str = ""  # where the laws were published: paper, arXiv id, table or equation
    n_star_note: str = ""  # how the source counts N*, where n_star_key only approximates it
    notes: tuple = ()  # other caveats a plan should show (units, setting of L*, ...)

    def noise_names(self) -> list[str]:
        return [n for n in self.noises if n != GLOBAL]

    def for_noise(self, noise: str) -> tuple[NoiseLaws, dict[str, str]]:
        """The laws used for ``noise`` and, per law, which group it came from."""
        fallback = self.noises.get(GLOBAL, NoiseLaws())
        if noise not in self.noises:
            # laws fitted without --by noise hold for whatever noise the runs used
            if fallback.N_star and (noise == GLOBAL or not self.noise_names()):
                return fallback, fallback.sources(NoiseLaws(), GLOBAL)
            known = ", ".join(self.noise_names()) or "none"
            raise UserError(f"--noise {noise!r}: law set {self.name!r} has no laws for it "
                            f"(it has: {known})")
        own = self.noises[noise]
        return own.merged_over(fallback), own.sources(fallback, noise)

    def tables_for(self, family: str) -> dict | None:
        """The top-level spec tables a run of ``family`` needs, or None if the set says none."""
        if family in self.family_tables:
            return copy.deepcopy(self.family_tables[family])
        if family in self.noise_tables:
            return {"noise": copy.deepcopy(self.noise_tables[family])}
        return None

    def figure_frontier(self, convention: str) -> tuple[dict, list[str]]:
        """N*(C) in parameters and D*(C) in tokens, with C counted as ``convention`` does.

        For drawing the set over a fitted frontier.  Returns the laws that can be
        expressed so, by name, and one line per law that cannot, saying why.
        """
        laws, _ = self.for_noise(self.default_noise)
        if convention != self.convention:
            return {}, [f"{self.name}: its compute is C = {self.convention}·D but the figure's "
                        f"is C = {convention}·D, and M/6P depends on the shape "
                        "(docs/theory.md §5); not drawn"]
        out, skipped = {}, []
        if laws.D_star is not None:
            out["D_star"] = laws.D_star
        per = PARAMETERS_PER_UNIT.get(self.n_star_key)
        if laws.N_star is not None and per is not None:
            out["N_star"] = PowerLaw(laws.N_star.A * per, laws.N_star.alpha)
        elif laws.N_star is not None:
            skipped.append(f"{self.name}: N* is in {N_STAR_UNITS[self.n_star_key]}, not "
                           "parameters; its N*(C) is not drawn")
        return out, skipped

    def extrapolation(self, compute: float) -> float:
        """How far outside the fitted budgets ``compute`` lies (1.0 = inside)."""
        if not self.compute_range:
            return 1.0
        low, high = self.compute_range
        if compute > high:
            return compute / high
        if compute < low:
            return low / compute
        return 1.0


def check_budget(compute) -> float:
    try:
        value = float(compute)
    except (TypeError, ValueError):
        raise UserError(f"--compute {compute!r} is not a number; write e.g. --compute 1e22") from None
    if not math.isfinite(value) or value <= 0:
        raise UserError(f"--compute {compute!r} must be a positive number of FLOPs, e.g. 1e22")
    return value


def load_law_set(name_or_path: str, host=None) -> LawSet:
    """A registered law set (``lawset`` kind) by name, or a ``difflaws fit --json`` file.

    A set without a recipe of its own (fitted laws, other studies' published
    laws) borrows the default law set's, which ``--base SPEC`` overrides when a
    plan writes a spec.
    """
    from difflaws.plan import fitted_laws
    from difflaws.plugins import default_host

    host = host or default_host()
    names = host.registry.names("lawset")
    if name_or_path in names:
        laws = host.structure("lawset", name_or_path).build()
    else:
        laws = fitted_laws.read(name_or_path, known=names, host=host)
    default = host.registry.default("lawset")
    if laws.recipe or default is None:
        return laws
    reference = host.structure("lawset", default).build()
    return attrs.evolve(laws, recipe=reference.recipe)


def named_law_sets(names: str, flag: str, host=None) -> list[LawSet]:
    """The registered law sets named in a comma-separated list, e.g. ``chinchilla,llama3``."""
    from difflaws.plugins import default_host

    host = host or default_host()
    known = host.registry.names("lawset")
    wanted = [n.strip() for n in str(names).split(",") if n.strip()]
    unknown = [n for n in wanted if n not in known]
    if unknown or not wanted:
        raise UserError(f"{flag} {','.join(unknown) or names!r}: not a registered law set; "
                        f"known: {', '.join(known)} (see `difflaws kinds lawset`)")
    return [host.structure("lawset", n).build() for n in wanted]
