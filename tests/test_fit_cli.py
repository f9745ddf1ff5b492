"""``difflaws fit``: CSV handling, JSON output, grouping, plots and bad input (exit 2)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from difflaws.cli import main
from difflaws.fit import load_points


def write_csv(path, header, rows):
    path.write_text(",".join(header) + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    return path


def power_rows(noise, A, a, n=8):
    C = np.geomspace(1e18, 1e21, n)
    return [[f"{c:.6g}", f"{A * c ** a:.8g}", noise] for c in C]


def run(args, capsys):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_by_noise_with_comparison_and_plot(tmp_path, capsys):
    rows = power_rows("masked", 0.3, 0.53) + power_rows("uniform", 0.2, 0.56)
    csv = write_csv(tmp_path / "opt.csv", ["Budget FLOP", "Tokens*", "noise"], rows)
    code, out, err = run(["fit", csv, "--law", "powerlaw", "--by", "noise", "--json",
                          "--columns", 'flops="Budget FLOP",tokens=Tokens*', "-o", "y=tokens",
                          "--bootstrap", "100", "--plot", tmp_path / "fig.png"], capsys)
    assert code == 0, err
    res = json.loads(out)
    assert set(res["groups"]) == {"masked", "uniform"}
    assert res["groups"]["uniform"]["params"]["alpha"] == pytest.approx(0.56, abs=1e-6)
    assert res["groups"]["masked"]["params"]["A"] == pytest.approx(0.3, rel=1e-5)
    assert [r["group"] for r in res["comparison"]] == ["masked", "uniform"]
    assert "alpha_ci" in res["comparison"][0]
    assert (tmp_path / "fig.png").stat().st_size > 10_000
    assert (tmp_path / "fig.pdf").read_bytes()[:4] == b"%PDF"


def test_tokens_derived_from_flops_and_params(tmp_path):
    csv = write_csv(tmp_path / "runs.csv", ["params", "flops", "loss"], [[1e8, 6e18, 3.0]])
    table = load_points(csv)
    assert table["tokens"][0] == pytest.approx(1e10)


@pytest.mark.parametrize("bad, message", [
    ("nan", "runs.csv:3: loss is missing or NaN"),
    ("-2.5", "runs.csv:3: loss is -2.5, not positive"),
])
def test_bad_losses_name_the_row(tmp_path, capsys, bad, message):
    csv = write_csv(tmp_path / "runs.csv", ["params", "tokens", "loss"],
                    [[1e8, 1e9, 3.1], [2e8, 1e9, bad], [4e8, 1e9, 2.9]])
    code, _, err = run(["fit", csv, "--law", "chinchilla"], capsys)
    assert code == 2 and message in err and "Traceback" not in err


def test_user_errors_exit_2(tmp_path, capsys):
    csv = write_csv(tmp_path / "few.csv", ["params", "tokens", "loss"],
                    [[1e8, 1e9, 3.1], [2e8, 2e9, 3.0], [4e8, 4e9, 2.9]])
    code, _, err = run(["fit", csv, "--law", "chinchilla", "--bootstrap", "0"], capsys)
    assert code == 2 and "at least 8 points" in err
    code, _, err = run(["fit", csv, "--law", "chinchila"], capsys)
    assert code == 2 and "did you mean 'chinchilla'" in err
    code, _, err = run(["fit", csv, "--law", "chinchilla", "-o", "grid=huge"], capsys)
    assert code == 2 and "fitter.grid" in err
    code, _, err = run(["fit", csv, "--law", "curves", "--bootstrap", "5"], capsys)
    assert code == 2 and "no bootstrap option" in err
    code, _, err = run(["fit", tmp_path / "missing.csv", "--law", "powerlaw"], capsys)
    assert code == 2 and "no such file" in err
