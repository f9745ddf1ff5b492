"""Read a sweep spec, expand it, and check every member before anything runs."""

from __future__ import annotations

from pathlib import Path

import attrs

from difflaws import atomic, engine
from difflaws.plugins import default_host
from difflaws.errors import Problem, SpecError
from difflaws.spec.load import apply_overrides, read_with_bases, structure
from difflaws.sweep.members import Member, expand, validate
from difflaws.sweep.spec import SweepSpec

MANIFEST = "sweep.json"


@attrs.frozen
class Sweep:
    spec: SweepSpec
    path: Path  # the sweep spec file
    base_path: Path  # the base run spec, resolved
    directory: Path  # where member run directories (and the results DB) live
    members: list  # list[Member]
    run_specs: list  # each member's structured run spec, in the same order

    def member_dir(self, member: Member) -> Path:
        return self.directory / member.name


def load_sweep(path, overrides=(), out: str | None = None, host=None,
               executor: str | None = None) -> Sweep:
    """``executor`` picks another executor kind than the spec's (its options then reset)."""
    host = host or default_host()
    path = Path(path)
    raw = read_with_bases(path)
    table = raw.data.get("executor")
    if executor and (table or {}).get("kind") != executor:
        raw = attrs.evolve(raw, data={**raw.data, "executor": {"kind": executor}})
    elif table is None:  # spelled out, so that --set executor.KEY lands on the default kind
        default = host.registry.default("executor")
        raw = attrs.evolve(raw, data={**raw.data, "executor": {"kind": default}})
    raw = apply_overrides(raw, list(overrides))
    spec = structure(raw, SweepSpec, host.converter)
    if not spec.name:
        spec = attrs.evolve(spec, name=path.stem)
    base_path = path.parent / spec.base_spec
    if not base_path.is_file():
        raise SpecError(Problem("base_spec", f"{spec.base_spec!r} not found (looked in "
                                             f"{base_path})", raw.origin("base_spec")),
                        fix="make base_spec a path relative to the sweep spec")
    members = expand(spec)
    run_specs = validate(members, base_path, host)
    directory = engine.run_dir_for(spec, out)  # OUT_DIR/NAME, as for a run
    return Sweep(spec, path, base_path, directory, members, run_specs)


def write_manifest(sweep: Sweep) -> Path:
    """``sweep.json``: which member directory holds which values (earlier members kept)."""
    import json

    target = sweep.directory / MANIFEST
    known = {}
    if target.is_file():
        try:
            known = {m["name"]: m for m in json.loads(target.read_text()).get("members", [])}
        except (ValueError, KeyError, TypeError, AttributeError):
            known = {}
    for m in sweep.members:
        known[m.name] = {"name": m.name, "values": m.values, "overrides": list(m.overrides)}
    atomic.write_json(target, {"name": sweep.spec.name, "sweep_spec": str(sweep.path.resolve()),
                               "base_spec": str(sweep.base_path.resolve()),
                               "members": list(known.values())})
    return target
