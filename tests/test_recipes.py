"""The `paper` recipe: it validates, resolves to its TOML, and docs/recipes.md tells the truth.

Every expected value is read from the recipe's TOML, the resolved defaults or the
GIDD formula; the documentation's tables are parsed, never restated here.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import pytest
import torch

import difflaws.noise as noise
from difflaws.errors import SpecError
from difflaws.noise.gidd import gidd_log_b, gidd_log_snr
from difflaws.spec.load import load_spec, resolved_toml, tomllib

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "specs" / "recipes" / "paper.toml"
DOC = (ROOT / "docs" / "recipes.md").read_text(encoding="utf-8")
PAPER_SCALE = ["mask_3b", "unif_3b", "uniform_10b"]
REQUIRED = "—"  # the doc's mark for a key with no default


def leaves(table: dict, prefix: str = "") -> dict:
    """{dotted key: value} for every non-table value."""
    out = {}
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        out.update(leaves(value, dotted + ".") if isinstance(value, dict) else {dotted: value})
    return out


def resolved(path: Path) -> dict:
    return leaves(tomllib.loads(resolved_toml(load_spec(path))))


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def on_recipe(folder: Path) -> Path:
    """A run spec built on the recipe: only the shape it cannot hold."""
    base = os.path.relpath(RECIPE, folder)
    return write(folder, "run.toml", f'base = "{base}"\n[backbone]\nshape = "L8-D512-H8"\n')


def doc_table(header: str) -> list[list[str]]:
    """The cells of the Markdown table whose header row starts with ``header``."""
    lines = DOC.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def code_value(cell: str):
    """The TOML value written in a cell as `value`."""
    return tomllib.loads(f"v = {cell.strip('`')}")["v"]


PAPER_ROWS = {row[0].strip("`"): row for row in doc_table("| setting | default | paper |")}
RECIPE_KEYS = leaves(tomllib.loads(RECIPE.read_text(encoding="utf-8")))


def test_a_spec_on_the_recipe_validates_and_resolves_to_the_recipe(tmp_path):
    got = resolved(on_recipe(tmp_path))
    for key, value in RECIPE_KEYS.items():
        assert got[key] == value, key


def test_the_doc_table_has_one_row_per_recipe_key_and_its_value():
    assert set(PAPER_ROWS) == set(RECIPE_KEYS)
    for key, (_, _, paper, why) in PAPER_ROWS.items():
        assert code_value(paper) == RECIPE_KEYS[key], key
        assert why, key


def test_the_doc_tables_defaults_are_the_defaults(tmp_path):
    plain = write(tmp_path, "plain.toml", '[noise]\nkind = "masked"\n'
                  '[backbone]\nkind = "transformer"\nshape = "L8-D512-H8"\n')
    defaults = resolved(plain)
    for key, (_, default, _, _) in PAPER_ROWS.items():
        if default == REQUIRED:
            table = key.split(".")[0]
            text = plain.read_text(encoding="utf-8")
            kept = re.sub(rf"\[{table}\]\n(?:[^\[].*\n)*", "", text)
            with pytest.raises(SpecError, match=table):
                load_spec(write(tmp_path, f"no_{table}.toml", kept))
        else:
            assert code_value(default) == defaults[key], key


@pytest.mark.parametrize("name", PAPER_SCALE)
def test_paper_scale_specs_keep_the_recipe_where_they_do_not_set_a_key(name):
    # a spec that changes the noise kind replaces the recipe's [noise] table whole: what it
    # does not restate must still come out as the recipe's value
    path = ROOT / "specs" / f"{name}.toml"
    own = leaves(tomllib.loads(path.read_text(encoding="utf-8")))
    assert own["base"] == "recipes/paper.toml"
    got = resolved(path)
    for key, value in RECIPE_KEYS.items():
        assert got[key] == own.get(key, value), (name, key)


def gidd_log_snr_at(t: float, p_u: float, gamma: float) -> float:
    logit = torch.tensor(math.log(t / (1 - t)), dtype=torch.float64)
    return float(gidd_log_snr(logit, gidd_log_b(p_u, gamma), gamma))


GIDD_ROWS = doc_table("| p_u | γ |")


@pytest.mark.parametrize("row", GIDD_ROWS, ids=lambda r: f"p_u={r[0]}")
def test_gidd_range_table_is_gidds_time_range_in_log_snr(row):
    p_u, gamma, low, high = (float(cell) for cell in row)
    # t ∈ [1e-4, 1 − 1e-4] (docs/theory.md §1.2); λ(t) decreases, so the noisy end is λ_min
    assert low == pytest.approx(gidd_log_snr_at(1 - 1e-4, p_u, gamma), abs=5e-5)
    assert high == pytest.approx(gidd_log_snr_at(1e-4, p_u, gamma), abs=5e-5)
    # the row is a range the gidd kind accepts
    noise.build("gidd", 8, 3, p_u=p_u, gamma=gamma, log_snr_min=low, log_snr_max=high)


def test_gidd_table_covers_the_released_uniform_levels():
    assert sorted(float(row[0]) for row in GIDD_ROWS) == [0.0, 0.1, 0.2]
