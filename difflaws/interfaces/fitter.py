"""Scaling-law fitters.

A fitter kind subclasses :class:`FitterConfig`.  Its fields are the law's
options (``difflaws fit -o KEY=VALUE``, ``difflaws.fit.fit(law, source,
**options)``).  ``build(**context)`` (no context is passed) returns an object
with ``fit(table) -> difflaws.fit.FitResult``; ``table`` is a
``difflaws.fit.PointTable`` (columns ``params``, ``tokens``, ``flops``,
``loss`` and any of ``batch_size``, ``lr``, ``noise``, ``run``, ``step``,
``budget``; call ``table.require(...)`` for the ones you need).

The result's contract, which ``difflaws fit`` prints and ``--json`` writes:

* ``law``: the kind's name;
* ``params``: coefficient name → float, or law name → ``{"A": .., "alpha": ..}``;
* ``ci``: the same keys → ``[low, high]`` (may be empty);
* ``derived``: read-offs computed from the coefficients (any JSON values);
* ``diagnostics``: how much to trust the fit; ``interior`` (bool) and
  ``bootstrap`` (a dict with ``replicates``) are shown when present;
* ``options``: the options used, so a plan can read the FLOP ``convention``;
* ``extra``: anything for the figure; never serialised.

Optional capabilities: :meth:`FitterConfig.figure` draws the result
(``fit --plot``), :meth:`FitterConfig.plan_laws` says what it contributes
to ``difflaws plan --laws`` and :meth:`FitterConfig.loss_model` gives a loss
of N, D and unique tokens for ``difflaws plan --unique-tokens``.
"""

from __future__ import annotations

from typing import Callable, ClassVar

import attrs

from difflaws.interfaces.component import ComponentConfig


@attrs.frozen
class PlanContribution:
    """What one fit result gives a plan: power laws y = A·x^α by name.

    ``laws`` maps any of ``N_star``, ``D_star``, ``L_star`` (x = compute C),
    ``B_star`` (x = training tokens) and ``lr_star`` (x = batch tokens) to
    ``difflaws.plan.laws.PowerLaw``.  ``convention`` is the FLOP convention
    of C (``"M"`` or ``"6P"``), None when the result has no compute axis;
    ``budgets`` are the compute budgets the fit saw, so plans can say how
    far they extrapolate.
    """

    laws: dict
    convention: str | None = None
    budgets: tuple = ()


@attrs.frozen
class LossModel:
    """A fitted loss L(N, D, U) that ``plan --unique-tokens`` minimises at fixed compute.

    ``loss(params, tokens, unique_tokens)`` takes broadcasting arrays (N, D and
    the distinct tokens U; U = inf is unlimited data) and returns the predicted
    loss.  ``draws`` are the same function at bootstrap parameter draws, for
    intervals at confidence ``level`` (empty: none).  ``convention`` is the FLOP
    convention of compute, C = 6·N·D (``"6P"``) with N as the fit counted it.
    ``seen_epochs`` is the most epochs D/U the fitted data had (None: unknown);
    a plan that repeats more extrapolates, and says so.
    """

    loss: Callable
    draws: tuple = ()
    level: float = 0.95
    convention: str = "6P"
    seen_epochs: float | None = None


@attrs.frozen(kw_only=True)
class FitterConfig(ComponentConfig):
    """Scaling-law fitter."""

    category: ClassVar[str] = "fitter"

    def figure(self, results: dict, path) -> list:
        """Draw ``{group: FitResult}`` (one group, or one per ``--by`` value) to ``path``
        (PNG) and a PDF beside it; return the paths written.  The built-in figures'
        panels are building blocks for yours (docs/plots.md): ``difflaws.plots.panels``,
        ``difflaws.plots.frontier`` (``curve``, ``draw``), ``difflaws.plots.labels.header``
        and ``difflaws.plots.style`` (``legend_below``, ``save``); check a figure's layout
        with ``difflaws.plots.overlap``.  The default refuses with a clear message."""
        from difflaws.errors import UserError

        raise UserError(f"--plot: the {type(self).__qualname__} fitter draws no figure "
                        "(it does not implement FitterConfig.figure)")

    @classmethod
    def plan_laws(cls, result: dict) -> PlanContribution:
        """What a result, as ``FitResult.to_dict()`` wrote it, gives ``plan --laws``.

        Raise ``difflaws.errors.UserError`` for a result that lacks what the
        law needs.  The default contributes nothing.
        """
        return PlanContribution({})

    @classmethod
    def loss_model(cls, result: dict) -> LossModel | None:
        """The result, as ``FitResult.to_dict()`` wrote it, as a loss of N, D and unique
        tokens for ``plan --unique-tokens``; None (the default) when the law has none.
        Raise ``difflaws.errors.UserError`` for a result that lacks what it needs."""
        return None
