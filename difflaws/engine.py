"""Spec in, components out: the engine knows categories, never kinds."""

from __future__ import annotations

from pathlib import Path

from difflaws import atomic, provenance
from difflaws.plugins import default_host
from difflaws.spec import load_spec, resolved_toml
from difflaws.spec.errors import Problem, SpecError, UserError

# The files of a run directory, which training writes and fitters and sweeps read.
SPEC_FILE = "spec.toml"
PROVENANCE_FILE = "provenance.json"
METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"


def load(path, overrides=(), host=None):
    return load_spec(path, overrides, host=host)


def figures(spec) -> dict:
    """Model-size and FLOP figures of the spec's backbone, for validate/plan/fit."""
    describe = getattr(spec.backbone, "figures", None)
    if describe is None:
        return {}
    vocab = getattr(spec.tokenizer, "vocab_size", None)
    return describe(vocab_size=vocab, seq_len=spec.train.seq_len)


def run_dir_for(spec, out: str | None = None) -> Path:
    return Path(out) if out else Path(spec.out_dir) / spec.name


def holds_other_spec(spec, out: str | None = None, host=None) -> bool:
    """Whether the run directory was started with a different resolved spec."""
    text = resolved_toml(spec, host or default_host())
    return _differs(run_dir_for(spec, out) / SPEC_FILE, text)


def _differs(existing: Path, text: str) -> bool:
    return existing.exists() and existing.read_text() != text


def open_run_dir(spec, out: str | None = None, force: bool = False, host=None) -> Path:
    """Create or re-open a run directory; refuse one that holds another spec."""
    host = host or default_host()
    run_dir = run_dir_for(spec, out)
    text = resolved_toml(spec, host)
    existing = run_dir / SPEC_FILE
    if not force and _differs(existing, text):
        raise SpecError(
            Problem("", f"run directory {run_dir} holds a different spec ({existing})"),
            fix="use another --out, or pass --force to start over in it",
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic.write_text(existing, text)
    atomic.write_json(run_dir / PROVENANCE_FILE, provenance.collect(host))
    return run_dir


def load_run(run_dir, host=None):
    """Re-read the resolved spec a run directory was started with."""
    path = Path(run_dir) / SPEC_FILE
    if not path.is_file():
        raise UserError(f"{run_dir} is not a run directory (no {SPEC_FILE}); "
                        "pass the directory that `difflaws run` created")
    return load_spec(path, host=host)
