"""Data-constrained runs: ``data.unique_tokens`` caps the training pool, which the run then
repeats epoch after epoch, resumably, and records as unique tokens and epochs."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest
import torch

import test_train
from difflaws import checkpoint, cli
from difflaws.data.packing import PackedSequences
from difflaws.errors import UserError
from difflaws.store import ResultsDB, rebuild
from difflaws.store.db import schema
from difflaws.train.setup import build_data
from difflaws.train.trainer import train
from test_bad_inputs import BASE, call, check
from test_train import Crash, crash_after, curve, setup_run

host = test_train.host  # the stand-in components' plugin host (a module-scoped fixture)

T = 32  # test_train.SPEC's train.seq_len
BATCH = 8  # and its train.batch_size
CAP = 500  # not a multiple of T: the pool is its first 15 whole windows
POOL_WINDOWS = CAP // T
CAPPED = [f"data.unique_tokens={CAP}", "train.steps=12", "train.checkpoint_every=5"]


def identified(n_windows: int, seq_len: int = 4) -> np.ndarray:
    """A split whose token k is k: every window served says where it came from."""
    return np.arange(n_windows * seq_len, dtype=np.int64)


def epochs_of(seqs: PackedSequences, n_epochs: int, chunk: int) -> list[np.ndarray]:
    """The sequences of ``n_epochs`` epochs, drawn ``chunk`` at a time (chunks that straddle
    the epoch boundaries, as a run's batches do), cut back into epochs."""
    total = n_epochs * seqs.n_windows
    drawn = []
    while sum(len(d) for d in drawn) < total:
        drawn.append(seqs.next_batch(chunk)[0].numpy())
    rows = np.concatenate(drawn)[:total]
    return [rows[e * seqs.n_windows:(e + 1) * seqs.n_windows] for e in range(n_epochs)]


# -- the pool, served --------------------------------------------------------------------------
def test_every_pool_token_is_served_once_per_epoch_in_a_fresh_seeded_order():
    split, pool, seq_len = 40, 11, 4
    stream = identified(split, seq_len)
    seqs = PackedSequences(stream, seq_len, eos_id=-1, seed=5, pool=pool)
    assert (seqs.n_windows, seqs.pool_tokens, seqs.split_windows) == (pool, pool * seq_len, split)
    epochs = epochs_of(seqs, 3, chunk=3)  # 3 does not divide 11
    orders = []
    for rows in epochs:
        counts = np.bincount(rows.ravel(), minlength=len(stream))
        assert (counts[:pool * seq_len] == 1).all()  # every pool position exactly once
        assert (counts[pool * seq_len:] == 0).all()  # nothing past the pool
        orders.append(tuple(rows[:, 0] // seq_len))
    assert len(set(orders)) == 3  # each epoch its own order
    again = epochs_of(PackedSequences(stream, seq_len, eos_id=-1, seed=5, pool=pool), 3, 5)
    assert [tuple(r[:, 0] // seq_len) for r in again] == orders  # the seed's, reproducibly
    other = epochs_of(PackedSequences(stream, seq_len, eos_id=-1, seed=6, pool=pool), 3, 5)
    assert [tuple(r[:, 0] // seq_len) for r in other] != orders


def test_the_data_position_resumes_mid_epoch_and_refuses_another_pool():
    stream = identified(40)
    seqs = PackedSequences(stream, 4, eos_id=-1, seed=2, pool=11)
    expected = seqs.batch_at(0, 40)[0]
    seqs.next_batch(17)  # one epoch and 6 sequences of the next
    state = seqs.state_dict()
    resumed = PackedSequences(stream, 4, eos_id=-1, seed=2, pool=11)
    resumed.load_state_dict(state)
    assert torch.equal(resumed.next_batch(23)[0], expected[17:])
    for pool in (0, 10):
        with pytest.raises(UserError, match="training pool of 11 windows, this run's has "
                                            f"{pool or 40} .*start a new run directory"):
            PackedSequences(stream, 4, eos_id=-1, seed=2, pool=pool).load_state_dict(state)
    # a checkpoint from before pools (no split_windows) served, and resumes, the whole split
    whole = PackedSequences(stream, 4, eos_id=-1, seed=2)
    whole.load_state_dict({"consumed": 7, "seed": 2, "n_windows": 40})
    assert whole.consumed == 7


def test_the_pool_is_the_first_tokens_of_the_training_split_and_never_validation(tmp_path,
                                                                                 host):
    spec, run_dir = setup_run(tmp_path, host, CAPPED)
    data = build_data(spec, run_dir)
    whole = build_data(setup_run(tmp_path, host, name="whole")[0], run_dir)
    train_stream = data.source.stream("train", data.tokenizer, run_dir.parent / ".cache")
    assert np.array_equal(data.train.stream, train_stream)
    served = data.train.batch_at(0, POOL_WINDOWS)[0].numpy()
    prefix = train_stream[:POOL_WINDOWS * T].reshape(POOL_WINDOWS, T)
    assert sorted(map(tuple, served)) == sorted(map(tuple, prefix))  # one epoch: the prefix
    assert data.train.pool_tokens == POOL_WINDOWS * T == 480
    # validation is its own stream, untouched by the cap, and shares no window with the pool
    assert np.array_equal(data.val_stream, whole.val_stream)
    assert np.array_equal(data.val_stream, data.source.stream("val", data.tokenizer,
                                                              run_dir.parent / ".cache"))
    assert data.val.n_windows > 0
    val_windows = set(map(tuple, data.val.batch_at(0, data.val.n_windows)[0].numpy()))
    assert val_windows.isdisjoint(map(tuple, prefix))
    assert whole.train.n_windows == len(train_stream) // T > POOL_WINDOWS


# -- a capped run: resumable mid-epoch, recorded ---------------------------------------------
@pytest.fixture(scope="module")
def capped(tmp_path_factory, host):
    """An uninterrupted capped run: 12 steps of 8 sequences over a pool of 15 windows."""
    root = tmp_path_factory.mktemp("capped")
    spec, run_dir = setup_run(root, host, CAPPED, name="full")
    return spec, run_dir, train(spec, run_dir, quiet=True, host=host)


def test_a_run_stopped_mid_epoch_resumes_bitwise(tmp_path, host, capped, monkeypatch):
    _, full_dir, full = capped
    spec, run_dir = setup_run(tmp_path, host, CAPPED, name="cut")
    with monkeypatch.context() as m:
        crash_after(m, 8)  # checkpoints at steps 5 and 10: step 5's is the last
        with pytest.raises(Crash):
            train(spec, run_dir, quiet=True, host=host)
    step, _, state = checkpoint.latest(run_dir)
    consumed = state["data"]["consumed"]
    assert step == 5 and consumed == 5 * BATCH
    assert consumed > POOL_WINDOWS and consumed % POOL_WINDOWS != 0  # inside epoch 3
    resumed = train(spec, run_dir, quiet=True, host=host)
    assert curve(run_dir) == curve(full_dir)
    assert resumed["val_nelbo"] == full["val_nelbo"]
    _, weights, _ = checkpoint.latest(run_dir)
    _, reference, _ = checkpoint.latest(full_dir)
    assert weights.keys() == reference.keys()
    assert all(torch.equal(weights[k], reference[k]) for k in reference)


def test_summary_db_and_rebuild_hold_unique_tokens_and_epochs(capped, tmp_path):
    _, run_dir, summary = capped
    tokens = 12 * BATCH * T
    expect = {"tokens": tokens, "pool_tokens": 480, "unique_tokens": 480,
              "epochs": tokens / 480}
    on_disk = json.loads((run_dir / "summary.json").read_text())
    assert {k: on_disk[k] for k in expect} == {k: summary[k] for k in expect} == expect
    assert [r["epoch"] for r in curve(run_dir)] == [r["tokens"] / 480 for r in curve(run_dir)]
    con = sqlite3.connect(run_dir.parent / "results.sqlite")
    row = con.execute("SELECT unique_tokens, epochs FROM runs WHERE run_id='full'").fetchone()
    assert row == (480, tokens / 480)
    with ResultsDB(tmp_path / "rebuilt.sqlite") as db:  # the run directory alone gives them
        rebuild.add_run(db, run_dir)
        assert (db.run("full")["unique_tokens"], db.run("full")["epochs"]) == row


def test_an_uncapped_run_records_its_whole_split_as_the_pool(tmp_path, host):
    spec, run_dir = setup_run(tmp_path, host)  # 24 steps over a split of ~6,060 tokens
    summary = train(spec, run_dir, quiet=True, host=host)
    data = build_data(spec, run_dir)
    split = len(data.source.stream("train", data.tokenizer, run_dir.parent / ".cache"))
    pool, tokens = split // T * T, 24 * BATCH * T
    assert tokens > pool  # a long run on a small split repeats too
    assert (summary["pool_tokens"], summary["unique_tokens"], summary["epochs"]) == \
        (pool, pool, tokens / pool)
    row = sqlite3.connect(run_dir.parent / "results.sqlite").execute(
        "SELECT unique_tokens, epochs FROM runs").fetchone()
    assert row == (pool, tokens / pool)


def test_an_older_db_gains_the_columns_and_keeps_its_rows(tmp_path):
    path = tmp_path / "results.sqlite"
    old = "\n".join(line for line in schema().splitlines()
                    if not line.strip().startswith(("unique_tokens ", "epochs ")))
    assert old != schema()
    with sqlite3.connect(path) as con:
        con.executescript(old)
        con.execute("INSERT INTO runs (run_id, name, run_dir, status, tokens) "
                    "VALUES ('a', 'a', '/x/a', 'finished', 100)")
        assert "epochs" not in {r[1] for r in con.execute("PRAGMA table_info(runs)")}
    with ResultsDB(path) as db:
        assert db.run("a")["tokens"] == 100 and db.run("a")["unique_tokens"] is None
        db.upsert_run("a", unique_tokens=50, epochs=2.0)
        assert (db.run("a")["unique_tokens"], db.run("a")["epochs"]) == (50, 2.0)


# -- the plan, and bad caps ------------------------------------------------------------------
def test_validate_and_dry_run_show_the_pool_and_planned_epochs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spec.toml").write_text(BASE)  # 4 steps × 4 sequences × 32 tokens
    assert cli.main(["validate", "spec.toml", "--json", "--set", "data.unique_tokens=100"]) == 0
    pool = json.loads(capsys.readouterr().out)["data_pool"]
    assert pool == {"pool_tokens": 96, "planned_tokens": 512, "unique_tokens": 96,
                    "epochs": 512 / 96}
    assert cli.main(["validate", "spec.toml", "--json"]) == 0  # uncapped: needs the split
    assert "data_pool" not in json.loads(capsys.readouterr().out)
    assert cli.main(["run", "spec.toml", "--dry-run", "--set", "data.unique_tokens=100"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if "data pool" in x)
    assert line.split()[2:] == ["96", "unique", "tokens", "(5.33", "epochs)"]


@pytest.mark.parametrize("cap, numbers", [(16, ("16", "32")), (5000, ("5,000", "4096"))],
                         ids=["below-seq-len", "above-split"])
def test_a_cap_the_data_cannot_meet_is_refused_when_the_run_is_built(tmp_path, monkeypatch,
                                                                     capsys, cap, numbers):
    monkeypatch.chdir(tmp_path)
    # BASE's training split: 4,000 symbols in documents of 1,023 and an EOS, 4,096 tokens
    (tmp_path / "spec.toml").write_text(BASE)
    code, err = call(["run", "spec.toml", "--out", "r", "--quiet", "--set",
                      "train.device=cpu", "--set", f"data.unique_tokens={cap}"], capsys)
    check(code, err, "data.unique_tokens")
    assert all(n in err for n in numbers), err
    assert not list((tmp_path / "r").glob("spec*"))  # nothing left to block the fixed command
