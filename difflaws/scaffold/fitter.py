"""Templates of a ``fitter`` kind: a scaling law fitted to a ``PointTable``."""

SUMMARY = "Power law y = A·x^α by least squares on log y against log x"

USAGE = '''
```bash
difflaws fit runs.csv --law ${kind} -o x=flops -o y=loss --plot fit.png
difflaws fit runs.csv --law ${kind} --json > laws.json
difflaws plan --compute 1e20 --laws laws.json   # a loss-vs-flops fit gives L*(C)
```
'''

PLUGIN = '''
"""The ``${kind}`` fitter kind: its config and registration.

The ``difflaws`` entry point names this module and difflaws imports it whenever it
starts, so it stays light: numpy, matplotlib and the fitter load inside ``build`` and
``figure``.
"""

from __future__ import annotations

import attrs

from difflaws import hookimpl
from difflaws.errors import UserError
from difflaws.interfaces import FitterConfig, PlanContribution, key

#: what a fit of column y against flops gives `difflaws plan --laws`
PLAN_LAWS = {"loss": "L_star", "tokens": "D_star"}


@attrs.frozen(kw_only=True)
class ${Kind}Config(FitterConfig):
    """${summary}.

    The fields are the law's options (``difflaws fit -o KEY=VALUE``); points with a
    non-positive x or y are refused, since a power law has no logarithm there.
    """

    x: str = key("flops", doc="column of the input axis, e.g. flops, params, tokens")
    y: str = key("loss", doc="column of the fitted quantity, e.g. loss, params, tokens")

    def build(self, **context):
        from ${module}.fitter import ${Kind}Fitter

        return ${Kind}Fitter(law="${kind}", x=self.x, y=self.y)

    def figure(self, results, path):
        from ${module}.fitter import draw

        return draw(results, path)

    @classmethod
    def plan_laws(cls, result) -> PlanContribution:
        """L*(C) or D*(C) when the fit was of loss or tokens against flops; else nothing."""
        from difflaws.plan.laws import PowerLaw

        options = result.get("options") or {}
        target = PLAN_LAWS.get(options.get("y")) if options.get("x") == "flops" else None
        if target is None:
            return PlanContribution({})
        try:
            law = PowerLaw(float(result["params"]["A"]), float(result["params"]["alpha"]))
        except (KeyError, TypeError, ValueError):
            raise UserError("${kind} fit: expected params with numbers A and alpha") from None
        return PlanContribution({target: law}, "M")  # C as the flops column counts it


@hookimpl
def difflaws_register_kinds(register):
    register("fitter", "${kind}", ${Kind}Config)
'''

COMPONENT = "fitter.py"

SOURCE = '''
"""The ``${kind}`` fitter: ln y = ln A + α·ln x by ordinary least squares.

``fit(table)`` receives a ``difflaws.fit.PointTable`` (columns by name; ``table.rows``
says where each row came from) and returns a ``difflaws.fit.FitResult``: ``params``
and ``ci`` (intervals, empty here), ``diagnostics`` on how far to trust the fit,
``options`` so plans can read the law back, and ``extra`` for the figure, which is
never serialised.
"""

from __future__ import annotations

import numpy as np

from difflaws.errors import UserError
from difflaws.fit import FitResult


class ${Kind}Fitter:
    def __init__(self, law: str, x: str, y: str):
        self.law, self.x, self.y = law, x, y

    def fit(self, table) -> FitResult:
        table.require(self.x, self.y)
        x = np.asarray(table[self.x], dtype=float)
        y = np.asarray(table[self.y], dtype=float)
        bad = ~((x > 0) & (y > 0) & np.isfinite(x) & np.isfinite(y))
        if bad.any():
            where = ", ".join(map(str, table.rows[bad][:3]))
            raise UserError(f"{self.law} fit: {self.x} and {self.y} must be positive numbers "
                            f"({where})")
        if len(x) < 2 or np.ptp(np.log(x)) == 0:
            raise UserError(f"{self.law} fit: needs at least two distinct {self.x} values")
        alpha, log_a = np.polyfit(np.log(x), np.log(y), 1)
        residuals = np.log(y) - (log_a + alpha * np.log(x))
        return FitResult(
            law=self.law,
            params={"A": float(np.exp(log_a)), "alpha": float(alpha)},
            diagnostics={"points": int(len(x)),
                         "rms_log_residual": float(np.sqrt(np.mean(residuals**2)))},
            options={"x": self.x, "y": self.y},
            extra={"x": x, "y": y},
        )


def draw(results: dict, path) -> list:
    """The points and fitted line of every group, log-log; writes a PNG and a PDF."""
    from difflaws.plots.style import colors, figure, save

    fig, (ax,) = figure()
    for color, (group, result) in zip(colors(len(results)), results.items()):
        x, y = result.extra["x"], result.extra["y"]
        A, alpha = result.params["A"], result.params["alpha"]
        xs = np.geomspace(x.min(), x.max(), 100)
        name = f"{group}: " if group is not None else ""
        ax.scatter(x, y, color=color, s=12)
        ax.plot(xs, A * xs**alpha, color=color, label=f"{name}{A:.3g}·x^{alpha:.3g}")
    options = next(iter(results.values())).options
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(options["x"])
    ax.set_ylabel(options["y"])
    ax.legend()
    return save(fig, path)
'''

TEST_IMPORTS = '''
import json

import numpy as np
import pytest
'''

TEST_DIFFLAWS = '''
from difflaws.errors import UserError
from difflaws.fit import PointTable
'''

TESTS = '''
A, ALPHA = 7.5, -0.07
FLOPS = np.geomspace(1e18, 1e22, 9)


def test_recovers_a_known_power_law_from_exact_points(host):
    config = host.structure(CATEGORY, {"kind": KIND})
    result = config.build().fit(PointTable({"flops": FLOPS, "loss": A * FLOPS**ALPHA}))
    assert result.params["A"] == pytest.approx(A, rel=1e-9)
    assert result.params["alpha"] == pytest.approx(ALPHA, abs=1e-12)
    assert result.diagnostics["rms_log_residual"] < 1e-12
    json.dumps(result.to_dict())  # what `difflaws fit --json` prints


def test_plan_reads_the_loss_frontier_back(host):
    config = host.structure(CATEGORY, {"kind": KIND})
    result = config.build().fit(PointTable({"flops": FLOPS, "loss": A * FLOPS**ALPHA}))
    contribution = config.plan_laws(result.to_dict())
    assert contribution.laws["L_star"](1e20) == pytest.approx(A * 1e20**ALPHA, rel=1e-9)


def test_figure_writes_png_and_pdf(host, tmp_path):
    config = host.structure(CATEGORY, {"kind": KIND})
    result = config.build().fit(PointTable({"flops": FLOPS, "loss": A * FLOPS**ALPHA}))
    written = config.figure({None: result}, tmp_path / "fit.png")
    assert sorted(p.suffix for p in written) == [".pdf", ".png"]
    assert all(p.stat().st_size > 0 for p in written)


def test_non_positive_points_are_refused(host):
    fitter = host.structure(CATEGORY, {"kind": KIND}).build()
    with pytest.raises(UserError, match="positive"):
        fitter.fit(PointTable({"flops": [1e18, 1e19], "loss": [3.0, 0.0]}))
'''
