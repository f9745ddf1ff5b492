"""Figure style and saving: one look for every difflaws plot, vector PDF + 300-dpi PNG."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator, NullFormatter, ScalarFormatter  # noqa: E402
from matplotlib.transforms import offset_copy  # noqa: E402

DPI = 300
RC = {
    "font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "legend.fontsize": 7,
    "xtick.labelsize": 7, "ytick.labelsize": 7, "axes.spines.top": False,
    "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.25, "grid.linewidth": 0.5,
    "lines.linewidth": 1.3, "lines.markersize": 4, "savefig.bbox": "tight",
    "savefig.pad_inches": 0.03, "savefig.dpi": DPI, "pdf.fonttype": 42, "figure.dpi": 100,
    "legend.framealpha": 0.85, "legend.borderaxespad": 0.3,
}
COLUMN = 3.4  # inches: one column of a two-column paper
PAGE = 7.0  # inches: the full width of a two-column page
ACCENT = "C3"  # optima and vertices; fitted lines use C0 or viridis
WARNING = "#b00020"  # the colour of a not-identified note


def figure(ncols: int = 1, nrows: int = 1, width: float | None = None, aspect: float = 0.8,
           layout: str | None = None):
    """A figure of ``nrows × ncols`` axes (flattened) in the house style.

    ``layout="constrained"`` lets matplotlib keep titles, legends below the axes and
    the header (:func:`difflaws.plots.labels.header`) apart; the default leaves layout
    to the caller, as plugin figures written before it expect.
    """
    plt.rcParams.update(RC)
    width = width or COLUMN * ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, width / ncols * aspect * nrows),
                             squeeze=False, layout=layout)
    return fig, axes.ravel()


def colors(n: int):
    cmap = plt.get_cmap("viridis")
    return [cmap(0.1 + 0.8 * i / max(n - 1, 1)) for i in range(n)]


def legend_below(ax, handles=None, ncol=2, **kwargs):
    """A legend under the axes' x label, so it hides no point or curve however the data
    fall; constrained layout then keeps it clear of the axes below."""
    # the depth of tick labels, label pad and x label at the house font sizes, in points:
    # an offset in points, unlike one in axes fractions, holds for any axes height
    depth = RC["xtick.labelsize"] * 1.3 + RC["axes.labelsize"] * 1.3 + 9.0
    below = offset_copy(ax.transAxes, fig=ax.figure, y=-depth, units="points")
    return ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0),
                     bbox_transform=below, frameon=False, ncol=ncol, columnspacing=1.0,
                     handletextpad=0.4, borderaxespad=0.0, **kwargs)


def log_axes(ax, loss_y: bool = False):
    """Log x and y.  ``loss_y``: about four evenly spaced y labels, as a loss range rarely
    spans a decade and a bare log axis would then show one label or none."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    # within a decade minor labels collide, and each is a slow mathtext string
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())
    if loss_y:
        ax.yaxis.set_major_locator(MaxNLocator(nbins=4, steps=(1, 2, 2.5, 5, 10)))
        ax.yaxis.set_major_formatter(ScalarFormatter())


def save(fig, path) -> list[Path]:
    """Write ``path`` (PNG, 300 dpi) and the same stem as a vector PDF, each atomically;
    return both paths."""
    from difflaws.atomic import write_bytes

    png = Path(path)
    png = png if png.suffix.lower() == ".png" else png.with_suffix(".png")
    pdf = png.with_suffix(".pdf")
    for target, fmt in ((png, "png"), (pdf, "pdf")):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, dpi=DPI)
        write_bytes(target, buffer.getvalue())
    plt.close(fig)
    return [png, pdf]
