"""Figure style and saving: one look for every difflaws plot, PNG + PDF."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RC = {
    "font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "legend.fontsize": 7.5,
    "xtick.labelsize": 8, "ytick.labelsize": 8, "axes.spines.top": False,
    "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.25, "grid.linewidth": 0.5,
    "lines.linewidth": 1.4, "lines.markersize": 4, "savefig.bbox": "tight",
    "savefig.dpi": 300, "pdf.fonttype": 42, "figure.dpi": 100,
}
COLUMN = 3.4  # inches: one column of a two-column paper


def figure(ncols: int = 1, nrows: int = 1, width: float | None = None, aspect: float = 0.8):
    plt.rcParams.update(RC)
    width = width or COLUMN * ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, width / ncols * aspect * nrows),
                             squeeze=False)
    return fig, axes.ravel()


def colors(n: int):
    cmap = plt.get_cmap("viridis")
    return [cmap(0.1 + 0.8 * i / max(n - 1, 1)) for i in range(n)]


def save(fig, path) -> list[Path]:
    """Write ``path`` (PNG) and the same stem as PDF; returns both paths."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    png = path if path.suffix.lower() == ".png" else path.with_suffix(".png")
    pdf = png.with_suffix(".pdf")
    fig.savefig(png)
    fig.savefig(pdf)
    plt.close(fig)
    return [png, pdf]
