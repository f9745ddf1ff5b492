"""Every law's figure is written as PNG and PDF (content checked by eye; here: files exist)."""

from __future__ import annotations

import numpy as np
import pytest

from difflaws.fit import fit, plot
from test_fit_curves import curve_table
from test_fit_hyperlaws import batch_table
from test_fit_isoflop import isoflop_table


def _check(paths):
    png, pdf = paths
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    assert pdf.read_bytes()[:4] == b"%PDF"


@pytest.mark.parametrize("law, make, options", [
    ("isoflop", lambda: isoflop_table(np.geomspace(1e18, 1e21, 5)), {"bootstrap": 200}),
    ("chinchilla", lambda: isoflop_table(np.geomspace(1e18, 1e21, 5)),
     {"bootstrap": 0, "grid": "small"}),
    ("curves", lambda: curve_table(np.geomspace(1e7, 1e9, 4), np.geomspace(1e8, 1e11, 20)),
     {"convention": "6P"}),
    ("batchsize", lambda: batch_table(np.geomspace(1e9, 1e11, 5)), {"bootstrap": 200}),
])
def test_figure_written(tmp_path, law, make, options):
    res = fit(law, make(), **options)
    _check(plot(law, {None: res}, tmp_path / f"{law}.png"))

