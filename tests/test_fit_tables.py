"""Comparison tables of ``fit --by``: aligned text, Markdown and JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from difflaws.cli import main
from difflaws.fit import PointTable, fit
from difflaws.fit.report import format_comparison
from test_fit_cli import write_csv


def _results():
    """Two groups with very different widths of numbers; one flat (flagged) relation."""
    C = np.geomspace(1e17, 1e21, 12)
    rng = np.random.default_rng(0)
    masked = fit("powerlaw", PointTable({"flops": C, "params": 1.23456e-7 * C ** 0.53
                                         * np.exp(rng.normal(0, 0.02, 12))}), bootstrap=300)
    # ±30 % alternating about a constant: no dependence on C, an interval about 0
    flat = fit("powerlaw", PointTable({"flops": C, "params": 5.0
                                       * np.exp(0.3 * (-1.0) ** np.arange(12))}), bootstrap=300)
    assert flat.diagnostics["warnings"] and not masked.diagnostics["warnings"]
    return {"masked-with-a-long-name": masked, "u": flat}


def test_text_columns_align_whatever_the_widths():
    text = format_comparison(_results(), "noise")
    rows = text.splitlines()[1:3 + 1]  # header and the two groups
    assert len({len(r) for r in rows}) == 1
    # after the left-aligned group, every cell ends at the same offset in every row (cells
    # hold single spaces only; columns are parted by two or more)
    ends = [[i for i in range(1, len(r) + 1) if r[i - 1] != " "
             and (i == len(r) or r[i:i + 2] == "  ")][1:] for r in rows]
    assert len(ends[0]) == 2 and ends[1] == ends[0] and ends[2] == ends[0]
    assert "[" in rows[1] and "]" in rows[1]  # value and CI
    assert rows[2].lstrip().startswith("u*")
    assert text.splitlines()[-1].startswith("* noise=u: ") and "alpha" in text.splitlines()[-1]


def test_markdown_is_a_table_with_one_cell_per_column():
    md = format_comparison(_results(), "noise", "md")
    table = [line for line in md.splitlines() if line.startswith("|")]
    assert len(table) == 4  # header, rule, two groups
    assert len({line.count("|") for line in table}) == 1
    assert table[0].split("|")[1].strip() == "noise"
    assert set(table[1].replace("|", "").replace(":", "")) == {"-"}
    assert "* noise=u:" in md


def test_json_carries_values_intervals_and_warnings():
    doc = json.loads(format_comparison(_results(), "noise", "json"))
    rows = {r["group"]: r for r in doc["comparison"]}
    assert rows["masked-with-a-long-name"]["warnings"] == []
    assert rows["u"]["warnings"][0]["parameter"] == "alpha"
    lo, hi = rows["masked-with-a-long-name"]["alpha_ci"]
    assert lo < rows["masked-with-a-long-name"]["alpha"] < hi


def test_cli_format_flag(tmp_path, capsys):
    C = np.geomspace(1e18, 1e21, 8)
    rows = [[f"{c:.6g}", f"{0.3 * c ** 0.53:.8g}", "masked"] for c in C] + \
        [[f"{c:.6g}", f"{0.2 * c ** 0.56:.8g}", "uniform"] for c in C]
    csv = write_csv(tmp_path / "opt.csv", ["flops", "params", "noise"], rows)
    base = ["fit", str(csv), "--law", "powerlaw", "--by", "noise", "--bootstrap", "50"]
    assert main(base + ["--format", "md"]) == 0
    md = capsys.readouterr().out
    assert md.count("| masked |") + md.count("| masked") >= 1 and "---:" in md
    assert main(base + ["--format", "json"]) == 0
    as_format = json.loads(capsys.readouterr().out)
    assert main(base + ["--json"]) == 0
    assert json.loads(capsys.readouterr().out) == as_format
    assert set(as_format["groups"]) == {"masked", "uniform"}
    assert main(base + ["--json", "--format", "md"]) == 2


def test_powerlaw_on_a_sweep_directory_derives_flops(tmp_path, capsys):
    """A sweep logs loss curves and no flops: the power law takes each run's final point,
    with C = 6·N·D from its parameters and final tokens (as for a CSV)."""
    from test_fit_curves import _write_run

    tokens = np.geomspace(1e6, 1e8, 6)
    sizes = (1e6, 2e6, 4e6, 8e6)
    for i, N in enumerate(sizes):
        _write_run(tmp_path / "sweep", f"r{i}", N, 0.5, "masked", tokens * (i + 1))
    res = fit("powerlaw", str(tmp_path / "sweep"), y="loss", bootstrap=0)
    expected = [6 * N * tokens[-1] * (i + 1) for i, N in enumerate(sizes)]
    assert np.sort(res.extra["x"]) == pytest.approx(np.sort(expected), rel=1e-12)
    assert main(["fit", str(tmp_path / "sweep"), "--law", "powerlaw", "-o", 'y="loss"',
                 "--bootstrap", "0"]) == 0
    assert "alpha" in capsys.readouterr().out
