"""Spec in, components out: the engine knows categories, never kinds."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from difflaws import atomic, provenance, rundir
from difflaws.plugins import default_host
from difflaws.spec import load_spec, resolved_toml
from difflaws.errors import Problem, SpecError, UserError

# The files of a run directory, which training writes and fitters and sweeps read.
SPEC_FILE = rundir.SPEC_FILE
SPEC_HASH_FILE = rundir.SPEC_HASH_FILE
PROVENANCE_FILE = rundir.PROVENANCE_FILE
METRICS_FILE = rundir.METRICS_FILE
SUMMARY_FILE = rundir.SUMMARY_FILE


def load(path, overrides=(), host=None):
    return load_spec(path, overrides, host=host)


def figures(spec) -> dict:
    """Model-size and FLOP figures of the spec's backbone, for validate/plan/fit.

    The conventions M and 6P count attention over all T² query-key pairs for every
    objective, so compute budgets compare across families.  A causal objective needs only
    a fraction of the pairs; where the backbone states its attention FLOPs, the figures
    add ``flops_per_token_M_causal``: M with only those pairs (docs/theory.md §5)."""
    T = spec.train.seq_len
    out = spec.backbone.figures(vocab_size=spec.tokenizer.vocab_size, seq_len=T)
    fraction = spec.objective.attention_pairs_fraction(T)
    attention = out.get("attention_flops_per_token")
    if out and fraction != 1.0:
        out["attention_pairs_fraction"] = fraction
        if attention is not None and out.get("flops_per_token_M") is not None:
            out["flops_per_token_M_causal"] = out["flops_per_token_M"] - attention * (1 - fraction)
    return out


def run_dir_for(spec, out: str | None = None) -> Path:
    """``--out``, or ``OUT_DIR/NAME``; the name is one safe path component, so the run
    directory never lies outside ``OUT_DIR``."""
    rundir.require_name(spec.name)
    return Path(out) if out else Path(spec.out_dir) / spec.name


def file_differs(existing: Path, text: str) -> bool:
    """Whether ``existing`` is there and holds something other than ``text``."""
    if not existing.exists():
        return False
    try:
        return existing.read_text() != text
    except (OSError, UnicodeDecodeError):
        return True


# -- the spec's checksum --------------------------------------------------------------------
def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def recorded_hash(run_dir) -> str | None:
    """The sha256 of spec.toml recorded when the run started (``spec.sha256``), if any."""
    try:
        words = (Path(run_dir) / SPEC_HASH_FILE).read_text().split()
    except (OSError, UnicodeDecodeError):
        return None
    return words[0] if words and len(words[0]) == 64 else None


def spec_damage(run_dir) -> str | None:
    """Why ``RUN_DIR/spec.toml`` is not the file the run started with, or None."""
    run_dir = Path(run_dir)
    want = recorded_hash(run_dir)
    path = run_dir / SPEC_FILE
    if want is None or not path.is_file():
        return None
    got = hashlib.sha256(path.read_bytes()).hexdigest()
    if got == want:
        return None
    return (f"{path} is not the spec this run started with: its sha256 ({got[:12]}…) differs "
            f"from the one recorded in {run_dir / SPEC_HASH_FILE} ({want[:12]}…), so it was "
            "edited or truncated")


def _restore_hint(run_dir) -> str:
    return (f"restore it (the workspace DB keeps the original: sqlite3 "
            f"{Path(run_dir).resolve().parent / 'results.sqlite'} \"SELECT spec_toml FROM "
            f"configs WHERE run_id='{Path(run_dir).resolve().name}'\")")


def check_spec_file(run_dir) -> None:
    """Raise a UserError if ``RUN_DIR/spec.toml`` fails its recorded checksum."""
    damage = spec_damage(run_dir)
    if damage:
        raise UserError(f"{damage}; {_restore_hint(run_dir)}, then re-run")


def write_spec(spec, run_dir, host=None, extra: dict | None = None) -> None:
    """Write ``spec.toml``, its ``spec.sha256`` and ``provenance.json`` (plus ``extra``)."""
    host = host or default_host()
    run_dir = Path(run_dir)
    rundir.refuse_links(run_dir)
    text = resolved_toml(spec, host)
    path = run_dir / SPEC_FILE
    if file_differs(path, text) or not path.exists():
        atomic.write_text(path, text)
    digest = sha256_text(text)
    if recorded_hash(run_dir) != digest:
        atomic.write_text(run_dir / SPEC_HASH_FILE, f"{digest}  {SPEC_FILE}\n")
    atomic.write_json(run_dir / PROVENANCE_FILE, {**provenance.collect(host), **(extra or {})})


# -- opening a run directory ------------------------------------------------------------------
def logger_files(spec) -> list[str]:
    return [name for logger in spec.loggers for name in logger.files()]


def spec_matches(spec, run_dir, host=None) -> bool:
    """Whether ``run_dir`` holds exactly this spec (its spec.toml intact)."""
    path = Path(run_dir) / SPEC_FILE
    return path.is_file() and spec_damage(run_dir) is None and \
        not holds_other_spec(path, spec, host or default_host())


def holds_other_spec(path: Path, spec, host) -> bool:
    """Whether the spec.toml at ``path`` is another spec than ``spec``.

    A file written by an older difflaws lacks the keys added since (each at a default
    that keeps the old behaviour), so it is read as this difflaws reads it and compared
    resolved: it is the same spec if it resolves to the same text."""
    text = resolved_toml(spec, host)
    if not file_differs(path, text):
        return False
    try:
        old = load(path, host=host)
    except Exception:  # unreadable, or no longer a valid spec: certainly not this one
        return True
    return resolved_toml(old, host) != text


def spec_diff_note(path: Path, spec, host) -> str:
    """The refusal's tail: the spec diff (``difflaws.spec.diff``) between the spec.toml at
    ``path`` (``-``) and ``spec`` (``+``), one indented line per side of a change; "" when
    they resolve alike.  Both are resolved as this difflaws reads them, so the keys added
    since the file was written do not show; a file that no longer loads is compared as
    written."""
    from difflaws.spec.diff import format_diff, spec_diff
    from difflaws.spec.load import tomllib

    try:
        old = tomllib.loads(resolved_toml(load(path, host=host), host))
    except Exception:  # no longer a valid spec: what it says is still worth showing
        try:
            old = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # TOMLDecodeError and UnicodeDecodeError included
            return "; it cannot be read as TOML"
    lines = format_diff(spec_diff(old, tomllib.loads(resolved_toml(spec, host))))
    if not lines:
        return ""
    return "; - the run directory's spec, + this one:" + "".join(f"\n      {line}"
                                                                 for line in lines)


def check_run_dir(spec, run_dir, force: bool = False, host=None) -> None:
    """Before a run (re)starts in ``run_dir``: refuse a spec.toml that fails its checksum or
    holds another spec (``force``: start over instead), and any link among the run's files.
    Call it holding the run directory's lock."""
    host = host or default_host()
    run_dir = Path(run_dir)
    existing = run_dir / SPEC_FILE
    damage = spec_damage(run_dir)
    if damage or holds_other_spec(existing, spec, host):
        if not force:
            if damage:
                raise UserError(f"{damage}; {_restore_hint(run_dir)}, or pass --force to "
                                "start the run over")
            raise SpecError(
                Problem("", f"run directory {run_dir} holds a different spec ({existing})"
                            f"{spec_diff_note(existing, spec, host)}"),
                fix="use another --out, or pass --force to start over in it",
            )
        rundir.start_over(run_dir)
    rundir.refuse_links(run_dir, logger_files(spec))


def open_run_dir(spec, out: str | None = None, force: bool = False, host=None) -> Path:
    """Create or re-open a run directory and write its spec; refuse one that holds another
    spec.  (``difflaws run`` checks the same, but writes the spec only once the run's
    components are built, so a run that fails to start leaves nothing that blocks a fix.)"""
    host = host or default_host()
    run_dir = rundir.make_dir(run_dir_for(spec, out))
    with rundir.hold(run_dir):
        check_run_dir(spec, run_dir, force=force, host=host)
        write_spec(spec, run_dir, host)
    return run_dir


def read_summary(run_dir, warn=None) -> dict | None:
    """``summary.json`` as a dict; None when absent or damaged (a damaged one is named
    through ``warn``: the run is then treated as unfinished and finishes again)."""
    path = Path(run_dir) / SUMMARY_FILE
    if not path.exists():
        return None
    try:
        summary = json.loads(path.read_text())
        if not isinstance(summary, dict) or "steps" not in summary:
            raise ValueError("not a summary object")
    except (OSError, ValueError) as exc:
        if warn is not None:
            warn(f"difflaws: {path} is damaged ({exc}); treating the run as unfinished")
        return None
    return summary


def finished_summary(spec, run_dir, warn=None) -> dict | None:
    """The summary of a run directory whose run already trained all of ``spec``'s steps."""
    summary = read_summary(run_dir, warn)
    if summary is None or not isinstance(summary.get("steps"), int):
        return None
    return summary if summary["steps"] >= spec.train.steps else None


def load_run(run_dir, host=None):
    """Re-read the resolved spec a run directory was started with."""
    path = Path(run_dir) / SPEC_FILE
    if not path.is_file():
        raise UserError(f"{run_dir} is not a run directory (no {SPEC_FILE}); "
                        "pass the directory that `difflaws run` created")
    check_spec_file(run_dir)
    return load_spec(path, host=host)
