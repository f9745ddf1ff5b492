"""The shipped specs load, the tiny_* trio differs only in [noise], and the shape specs
select the paper's five sweep shapes with its settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from difflaws import engine
from difflaws.plugins import default_host

SPECS = Path(__file__).resolve().parents[1] / "specs"
PAPER_SHAPES = {  # docs/theory.md §6.1: non-embedding parameters (millions)
    "L8-D512": 25.2, "L10-D640": 49.2, "L12-D768": 85.1, "L16-D1024": 201.6, "L20-D1536": 566.7,
}


def test_quickstart_is_tiny_uniform_on_the_embedded_corpus():
    spec = engine.load(SPECS / "quickstart.toml", host=default_host())
    kinds = default_host().registry
    assert kinds.kind_of(spec.noise).name == "uniform"
    assert kinds.kind_of(spec.data).name == "stdlib"
    assert spec.train.steps * spec.train.batch_size * spec.train.seq_len <= 2_000_000


def test_tiny_specs_differ_only_in_noise():
    host = default_host()
    tables = {}
    for noise in ("masked", "uniform", "hybrid"):
        spec = engine.load(SPECS / f"tiny_{noise}.toml", host=host)
        data = host.converter.unstructure(spec)
        assert data["noise"]["kind"] == noise and data["name"] == f"tiny_{noise}"
        tables[noise] = {k: v for k, v in data.items() if k not in ("noise", "name")}
    assert tables["masked"] == tables["uniform"] == tables["hybrid"]


@pytest.mark.parametrize("shape", sorted(PAPER_SHAPES))
def test_shape_specs_match_the_paper(shape):
    spec = engine.load(SPECS / "shapes" / f"{shape}.toml", host=default_host())
    t = spec.train
    assert (t.seq_len, t.cooldown_fraction, spec.tokenizer.vocab_size) == (2048, 0.0, 131072)
    assert default_host().registry.kind_of(spec.optimizer).name == "laprop"
    assert default_host().registry.kind_of(spec.parameterization).name == "completep"
    d, L = int(shape.split("-D")[1]), int(shape[1:].split("-")[0])
    # the paper's count P = L(12d² + 14d) + d (docs/theory.md §5), against its table
    assert (L * (12 * d * d + 14 * d) + d) / 1e6 == pytest.approx(PAPER_SHAPES[shape], abs=0.1)
    figures = engine.figures(spec)
    assert figures["depth"] == L and figures["width"] == d
