"""Publication figures for fit results (matplotlib, Agg backend, PNG + PDF).

``plot_results({group: FitResult}, "out.png")`` picks the figure from the
law; several groups (``--by noise``) share one figure where that reads well.
"""

from __future__ import annotations


def plot_results(results: dict, path):
    from difflaws.plots import figures

    law = next(iter(results.values())).law
    draw = getattr(figures, law, None)
    if draw is None:
        from difflaws.spec.errors import UserError

        raise UserError(f"--plot: no figure for the {law} law yet")
    return draw(results, path)
