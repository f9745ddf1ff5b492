"""``difflaws runs``: listing, filtering, sorting, formats and the spec diff, on a real
workspace DB written by ``difflaws run``; and the diff ``difflaws run`` prints when it
refuses a run directory that holds another spec.

Every expected figure comes from the run directories themselves (summary.json,
spec.toml) or from the spec through ``engine.figures``, never from the DB the command
reads.
"""

from __future__ import annotations

import csv
import io
import json

import pytest

from conftest import REPO
from difflaws import engine
from difflaws.cli import main
from difflaws.plugins import PluginHost
from difflaws.spec.diff import ABSENT, Change, format_diff, spec_diff
from difflaws.spec.load import tomllib
from difflaws.store.db import DB_FILE, ResultsDB

SPEC = (REPO / "tests" / "specs" / "tiny_markov.toml").as_posix()
# run id → its overrides of the tiny spec
RUNS = {
    "a": ["optimizer.lr=0.5", "train.eval_batches=2"],
    "b": ["optimizer.lr=0.3", "noise.kind=masked", "train.eval_batches=2"],
    "c": ["optimizer.lr=0.3", "backbone.shape=L2-D32", "train.eval_batches=1"],
}
GHOST = "ghost"  # registered as running by a process that died: the DB makes it interrupted


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    root = tmp_path_factory.mktemp("ws")
    for run_id, sets in RUNS.items():
        argv = ["run", SPEC, "--out", str(root / run_id), "--quiet"]
        assert main([*argv, *(a for s in sets for a in ("--set", s))]) == 0
    with ResultsDB(root / DB_FILE) as db:
        db.upsert_run(GHOST, name="ghost", run_dir=str(root / GHOST), status="running")
    return root


def listed(capsys, *args) -> list[dict]:
    assert main(["runs", *map(str, args), "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def expected(ws, run_id) -> dict:
    """A run's listing figures from its run directory alone."""
    summary = json.loads((ws / run_id / "summary.json").read_text())
    spec = engine.load(ws / run_id / "spec.toml", host=PluginHost(entry_points=False))
    figures = engine.figures(spec)
    return {"run": run_id, "name": "tiny", "status": "finished",
            "family": tomllib.loads((ws / run_id / "spec.toml").read_text())["noise"]["kind"],
            "params": figures["non_embedding_params"], "shape": figures["shape"],
            "tokens": summary["tokens"], "step": summary["steps"], "steps": spec.train.steps,
            "val_nelbo": summary["val_nelbo"], "val_nelbo_stderr": summary["val_nelbo_stderr"],
            "wall_seconds": summary["wall_seconds"]}


def test_lists_every_run_with_its_figures(ws, capsys):
    rows = {r["run"]: r for r in listed(capsys, ws)}
    assert sorted(rows) == sorted([*RUNS, GHOST])
    for run_id in RUNS:
        want = expected(ws, run_id)
        assert {k: rows[run_id][k] for k in want} == pytest.approx(want), run_id
    assert rows["c"]["shape"] == "L2-D32-H2" and rows["a"]["shape"] == "L1-D32-H2"
    assert rows["a"]["val_nelbo_stderr"] > 0
    assert rows[GHOST]["status"] == "interrupted"  # nobody holds its lock: its process is gone
    assert rows[GHOST]["val_nelbo"] is None


def test_a_run_directory_lists_that_run_and_a_db_file_all(ws, capsys):
    assert [r["run"] for r in listed(capsys, ws / "b")] == ["b"]
    assert len(listed(capsys, ws / DB_FILE)) == len(RUNS) + 1


def test_text_columns_are_aligned(ws, capsys):
    assert main(["runs", str(ws)]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {r["run"]: r for r in listed(capsys, ws)}
    head = ["run", "status", "family", "params", "shape", "tokens", "steps",
            "val NELBO ± s.e.", "wall"]
    right = {"params", "tokens", "steps", "val NELBO ± s.e.", "wall"}
    a = rows["a"]
    cells = {"a": ["a", "finished", "uniform", f"{a['params'] / 1e3:.3g}k", a["shape"],
                   f"{a['tokens'] / 1e3:.3g}k", f"{a['step']}/{a['steps']}",
                   f"{a['val_nelbo']:.4f} ± {a['val_nelbo_stderr']:.4f}",
                   f"{a['wall_seconds']:.1f}s"]}
    cells["c"] = ["c", "finished", "uniform", None, "L2-D32-H2", None, "8/8", None, None]
    cells[GHOST] = [GHOST, "interrupted"]  # None: not checked; the ghost has no figures
    spans = {}
    for line, want in [(lines[0], head)] + [(next(x for x in lines if x.startswith(k + " ")), v)
                                           for k, v in cells.items()]:
        at = 0
        for name, cell in zip(head, want):
            if cell is None:
                continue
            start = line.index(cell, at)
            at = start + len(cell)
            spans.setdefault(name, []).append(at if name in right else start)
    assert len(lines) == 1 + len(RUNS) + 1
    for name, edges in spans.items():  # left columns start, right columns end, together
        assert len(set(edges)) == 1, (name, edges)


WHERE = [
    (["status=finished"], {"a", "b", "c"}),
    (["status=interrupted"], {GHOST}),
    (["noise=masked"], {"b"}),
    (["family=uniform"], {"a", "c"}),
    (["objective=diffusion"], {"a", "b", "c"}),
    (["name=tiny"], {"a", "b", "c"}),
    (["shape=L2-D32-H2"], {"c"}),
    (["optimizer.lr=0.3"], {"b", "c"}),           # a key path of the stored spec
    (["lr=0.5"], {"a"}),                          # a column of the runs table
    (["train.eval_batches=2", "optimizer.lr=0.3"], {"b"}),  # every --where must hold
    (["train.steps=8.0"], {"a", "b", "c"}),       # numbers compare as numbers
    (["noise=gidd"], set()),
]


@pytest.mark.parametrize("where,want", WHERE, ids=[" ".join(w) for w, _ in WHERE])
def test_where(ws, capsys, where, want):
    args = [a for w in where for a in ("--where", w)]
    assert {r["run"] for r in listed(capsys, ws, *args)} == want


def test_sort_reverse_and_limit(ws, capsys):
    vals = {k: json.loads((ws / k / "summary.json").read_text())["val_nelbo"] for k in RUNS}
    by_val = sorted(vals, key=vals.get)
    assert [r["run"] for r in listed(capsys, ws, "--sort", "val_nelbo")] == [*by_val, GHOST]
    assert [r["run"] for r in listed(capsys, ws, "--sort", "val_nelbo", "--reverse")] == \
        [*by_val[::-1], GHOST]  # a run without the key stays last
    assert [r["run"] for r in listed(capsys, ws, "--sort", "optimizer.lr", "--reverse",
                                     "--limit", "1")] == ["a"]
    assert [r["run"] for r in listed(capsys, ws, "--limit", "2")] == ["a", "b"]
    assert listed(capsys, ws, "--limit", "0") == []


def test_markdown_and_csv_parse_back(ws, capsys):
    rows = listed(capsys, ws)
    assert main(["runs", str(ws), "--format", "csv"]) == 0
    parsed = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [p["run"] for p in parsed] == [r["run"] for r in rows]
    for p, r in zip(parsed, rows):
        for key, value in r.items():
            if value is None:
                assert p[key] == ""
            elif isinstance(value, str):
                assert p[key] == value
            else:
                assert float(p[key]) == pytest.approx(value, rel=1e-12), key

    assert main(["runs", str(ws), "--format", "md"]) == 0
    md = capsys.readouterr().out.splitlines()
    assert md[1].startswith("|---|") and md[1].count("|") == md[0].count("|") == 10
    table = [[c.strip() for c in line.strip("|").split("|")] for line in md[2:]]
    assert [t[0] for t in table] == [r["run"] for r in rows]
    b = next(t for t in table if t[0] == "b")
    rb = next(r for r in rows if r["run"] == "b")
    assert b[1:3] == ["finished", "masked"]
    assert b[7] == f"{rb['val_nelbo']:.4f} ± {rb['val_nelbo_stderr']:.4f}"


@pytest.mark.parametrize("flag", ["--where", "--sort"])
def test_unknown_key_exits_2_naming_it(ws, capsys, flag):
    arg = "optimizer.l=0.3" if flag == "--where" else "optimizer.l"
    assert main(["runs", str(ws), flag, arg]) == 2
    err = capsys.readouterr().err
    assert f"{flag} optimizer.l: no such key" in err
    assert "optimizer.lr" in err and "status" in err and "shape" in err  # the valid ones


@pytest.mark.parametrize("source", ["missing", "points.csv"])
def test_a_source_that_is_no_db_exits_2(ws, tmp_path, capsys, source):
    if source.endswith(".csv"):
        (tmp_path / source).write_text("params,tokens,loss\n1,2,3\n")
    assert main(["runs", str(tmp_path / source)]) == 2
    assert source in capsys.readouterr().err
    assert (tmp_path / source).exists() == source.endswith(".csv")  # nothing moved or made


def flat(d: dict, prefix: str = "") -> dict:
    """Key paths of a nested dict (the test's own, to check the command against)."""
    out = {}
    for k, v in d.items():
        out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) and v else {prefix + k: v})
    return out


def test_spec_diff_of_two_dicts():
    old = {"seed": 0, "lr": 1, "noise": {"kind": "uniform", "shift": 2.0},
           "gone": {"x": 1, "y": {"z": [1, 2]}}, "same": {"a": "b"}, "empty": {}}
    new = {"seed": 0, "lr": 1.0, "noise": {"kind": "masked", "shift": 2.0},
           "added": {"k": True}, "same": {"a": "b"}, "empty": {}, "unset": None}
    want = [Change("added.k", ABSENT, True), Change("gone.x", 1, ABSENT),
            Change("gone.y.z", [1, 2], ABSENT), Change("lr", 1, 1.0),
            Change("noise.kind", "uniform", "masked")]
    assert spec_diff(old, new) == want
    assert format_diff(want) == ["+ added.k: true", "- gone.x: 1", "- gone.y.z: [1, 2]",
                                 "- lr: 1", "+ lr: 1.0", '- noise.kind: "uniform"',
                                 '+ noise.kind: "masked"']
    assert spec_diff(new, new) == []


def expected_diff(ws, a, b) -> dict:
    """key → (old, new) between two run directories' spec.toml files."""
    fa, fb = (flat(tomllib.loads((ws / r / "spec.toml").read_text())) for r in (a, b))
    return {k: (fa.get(k), fb.get(k)) for k in fa.keys() | fb.keys() if fa.get(k) != fb.get(k)}


def test_diff_and_compare(ws, capsys):
    want = expected_diff(ws, "a", "b")
    assert set(want) == {"optimizer.lr", "noise.kind"}  # what the fixture changed
    assert main(["runs", str(ws), "--diff", "a", "b", "--format", "json"]) == 0
    got = json.loads(capsys.readouterr().out)["diff"]
    assert {d["key"]: (d["old"], d["new"]) for d in got} == want

    assert main(["runs", "--diff", str(ws / "a"), str(ws / "c")]) == 0  # run directories
    lines = capsys.readouterr().out.splitlines()
    want = expected_diff(ws, "a", "c")
    assert lines == [line for k in sorted(want) for line in
                     (f"- {k}: {json.dumps(want[k][0])}", f"+ {k}: {json.dumps(want[k][1])}")]

    assert main(["runs", str(ws), "--compare", "b", "a"]) == 0
    out = capsys.readouterr().out
    assert "spec diff (- b, + a):" in out
    assert "- optimizer.lr: 0.3\n+ optimizer.lr: 0.5" in out
    rows = [line.split()[0] for line in out.splitlines()[1:3]]
    assert rows == ["b", "a"]

    assert main(["runs", str(ws), "--diff", "a", "nope"]) == 2
    assert "no run nope" in capsys.readouterr().err


def test_run_on_a_dir_with_another_spec_prints_the_diff(ws, capsys):
    before = (ws / "a" / "spec.toml").read_text()
    sets = [a for s in RUNS["a"] for a in ("--set", s)]
    assert main(["run", SPEC, "--out", str(ws / "a"), "--quiet", *sets,
                 "--set", "optimizer.lr=0.7", "--set", "seed=3"]) == 2
    err = capsys.readouterr().err
    assert "holds a different spec" in err and "--force" in err
    diff = [line.strip() for line in err.splitlines() if line.strip()[:2] in ("- ", "+ ")]
    assert diff[-4:] == ["- optimizer.lr: 0.5", "+ optimizer.lr: 0.7", "- seed: 0", "+ seed: 3"]
    assert len(diff) == 5  # the problem's own "- run directory ..." line, then the diff
    assert (ws / "a" / "spec.toml").read_text() == before  # refused: nothing rewritten
