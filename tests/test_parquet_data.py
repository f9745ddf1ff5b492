"""The parquet data kind: every token once per epoch, weighted bucket mixtures, the pool
cap, the cached index, rank-local reading and the bad inputs (exit 2, the shard named)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
import pyarrow.parquet as pq  # noqa: E402

from difflaws.builtins.data import ParquetBucket, ParquetDataConfig  # noqa: E402
from difflaws.data import parquet_index  # noqa: E402
from difflaws.data.loader import BatchLoader  # noqa: E402
from difflaws.data.mixture import ROUND  # noqa: E402
from difflaws.errors import UserError  # noqa: E402
from difflaws.tokenizers.bytes import EOS_ID, ByteTokenizer  # noqa: E402
from test_bad_inputs import BASE, call, check  # noqa: E402

TOK = ByteTokenizer()
T = 16


def write_shards(root: Path, n_shards: int, docs: int, seed: int, row_group: int = 13,
                 max_len: int = 40) -> list[list[list[int]]]:
    """Shards of random documents (ids < 256), several row groups each; returns the rows."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    out = []
    for s in range(n_shards):
        rows = [rng.integers(0, 256, rng.integers(1, max_len)).tolist() for _ in range(docs)]
        pq.write_table(pa.table({"tokens": rows, "other": list(range(docs))}),
                       root / f"shard-{s:02d}.parquet", row_group_size=row_group)
        out.append(rows)
    return out


def flat(shards) -> np.ndarray:
    """The documents back to back, an EOS after each: the stream a flat .bin would hold."""
    return np.array([t for rows in shards for row in rows for t in row + [EOS_ID]])


def windows(config: ParquetDataConfig, tmp_path, batch_size=8, unique_tokens=0, seed=3):
    return config.build().train_windows(TOK, tmp_path / "cache", T, seed, unique_tokens,
                                        batch_size)


def lane_pass(w, bucket: int, epoch: int) -> np.ndarray:
    """Sequence numbers of epoch ``epoch`` of ``bucket``: each lane's pass over its
    segment of the bucket's windows."""
    order = w.orders[bucket]
    out = []
    for lane in range(w.lanes.count):
        need = (epoch + 1) * order.segment_len[lane]
        items = np.arange(4 * need + 4 * ROUND)  # enough lane items to hold that many
        if w.mixture is not None:
            b, item = w.mixture.locate(lane, items)
            items = items[(b == bucket) & (item >= epoch * order.segment_len[lane])
                          & (item < need)]
        else:
            items = items[epoch * order.segment_len[lane]:need]
        out.append(w.lanes.sequence(lane, items))
    return np.concatenate(out)


# -- the corpus, served -----------------------------------------------------------------------
def test_every_token_is_served_once_per_epoch_with_document_ids(tmp_path):
    shards = write_shards(tmp_path / "train", 3, 60, seed=1)
    stream = flat(shards)
    config = ParquetDataConfig(paths=[str(tmp_path / "train")], val_fraction=0.0, lanes=4)
    w = windows(config, tmp_path)
    N = len(stream) // T
    assert (w.n_windows, w.split_windows, w.pool_tokens) == (N, N, N * T)
    where = {}  # a window's tokens → its place in the flat stream (random tokens: unique)
    for i, row in enumerate(stream[:N * T].reshape(N, T)):
        where.setdefault(tuple(row), i)
    assert len(where) == N
    orders = []
    for epoch in range(3):
        seqs = lane_pass(w, 0, epoch)
        tokens, doc_ids = w.batch_at(0, int(seqs.max()) + 1)
        tokens, doc_ids = tokens.numpy()[seqs], doc_ids.numpy()[seqs]
        # each served window is a window of the flat stream; together, every one once
        starts = [where[tuple(row)] for row in tokens]
        assert sorted(starts) == list(range(N))
        counts = np.bincount(np.concatenate([np.arange(s * T, (s + 1) * T) for s in starts]),
                             minlength=len(stream))
        assert (counts[:N * T] == 1).all() and (counts[N * T:] == 0).all()
        eos = tokens == EOS_ID  # the document id counts the EOS tokens before a position
        assert np.array_equal(doc_ids, np.cumsum(eos, axis=1) - eos)
        orders.append(tuple(starts))
    assert len(set(orders)) == 3  # each epoch its own order
    again = windows(config, tmp_path)
    assert np.array_equal(again.batch_at(0, 50)[0], w.batch_at(0, 50)[0])  # the seed's
    other = windows(config, tmp_path, seed=4)
    assert not np.array_equal(other.batch_at(0, 50)[0], w.batch_at(0, 50)[0])


def test_held_out_rows_are_validation_and_never_trained_on(tmp_path):
    shards = write_shards(tmp_path / "train", 2, 80, seed=2)
    config = ParquetDataConfig(paths=[str(tmp_path / "train" / "*.parquet")], val_fraction=0.2,
                               lanes=2)
    source = config.build()
    val = np.asarray(source.stream("val", TOK, tmp_path / "cache"))
    held = [[row for row, h in zip(rows, parquet_index.held_out_rows(
        f"shard-{s:02d}.parquet", 0, len(rows), 0.2)) if h == want]
        for want in (True, False) for s, rows in enumerate(shards)]
    assert np.array_equal(val, flat(held[:2]))  # the held-out rows, in shard order
    assert 0.1 < (val == EOS_ID).sum() / 160 < 0.3
    w = source.train_windows(TOK, tmp_path / "cache", T, 0, 0, 4)
    train = flat(held[2:])
    assert w.split_windows == len(train) // T
    served = w.batch_at(0, w.n_windows)[0].numpy()
    reference = set(map(tuple, train[:w.n_windows * T].reshape(-1, T)))
    assert set(map(tuple, served)) <= reference


def test_bucket_mixture_respects_weights_and_serves_each_bucket_once_per_epoch(tmp_path):
    sizes = {"high": 40, "mid": 30, "low": 60}
    weights = {"high": 5.0, "mid": 3.0, "low": 2.0}
    buckets = {}
    for i, (name, docs) in enumerate(sizes.items()):
        write_shards(tmp_path / name, 2, docs, seed=10 + i)
        buckets[name] = ParquetBucket(paths=[str(tmp_path / name)], weight=weights[name])
    config = ParquetDataConfig(buckets=buckets, val_fraction=0.0, lanes=2)
    w = windows(config, tmp_path)
    names = sorted(sizes)  # buckets are taken in name order
    # whole rounds of every lane: each bucket's share is its weight to within 1/ROUND
    rounds = 3
    n = rounds * ROUND * w.lanes.count  # lanes of equal width: 3 rounds each
    bucket, _ = w.windows_of(0, n)
    share = np.bincount(bucket, minlength=3) / n
    for b, name in enumerate(names):
        assert abs(share[b] - weights[name] / 10) <= 1 / ROUND, (name, share)
    # the interleaving is seeded, and differs between lanes: columns 0 and 4 of each step
    # are the same items of lanes 0 and 1
    assert not np.array_equal(bucket[0:8 * 50:8], bucket[4:8 * 50 + 4:8])
    other = windows(config, tmp_path, seed=9)
    assert not np.array_equal(other.windows_of(0, 400)[0], bucket[:400])
    for b in range(3):
        for epoch in range(2):
            seqs = lane_pass(w, b, epoch)
            got_bucket, got_window = w.windows_of(0, int(seqs.max()) + 1)
            assert (got_bucket[seqs] == b).all()
            assert sorted(got_window[seqs]) == list(range(w.pools[b]))


def test_unique_tokens_caps_each_bucket_by_weight(tmp_path):
    write_shards(tmp_path / "a", 2, 60, seed=5)
    one = ParquetDataConfig(paths=[str(tmp_path / "a")], val_fraction=0.0, lanes=2)
    w = windows(one, tmp_path, unique_tokens=20 * T + 7)
    assert (w.n_windows, w.pool_tokens) == (20, 20 * T)
    served = w.windows_of(0, 400)[1]
    assert set(served) == set(range(20))  # the pool is the first windows of the split
    write_shards(tmp_path / "b", 2, 60, seed=6)
    mixed = ParquetDataConfig(buckets={name: ParquetBucket(paths=[str(tmp_path / name)],
                                                           weight=weight)
                                       for name, weight in (("a", 3.0), ("b", 1.0))},
                              val_fraction=0.0, lanes=2)
    w = windows(mixed, tmp_path, unique_tokens=40 * T)
    assert w.pools == [30, 10] and w.pool_tokens == 40 * T
    with pytest.raises(UserError, match="= 60 gives data.buckets.b a share of 15 tokens"):
        windows(mixed, tmp_path, unique_tokens=60)  # a quarter of 60 is under one sequence


def test_the_index_is_built_once_and_again_when_a_shard_changes(tmp_path, monkeypatch):
    write_shards(tmp_path / "a", 2, 30, seed=7)
    config = ParquetDataConfig(paths=[str(tmp_path / "a")], lanes=2)
    calls = []
    real = parquet_index.index_shard
    monkeypatch.setattr(parquet_index, "index_shard",
                        lambda path, *a: calls.append(path.name) or real(path, *a))
    first = windows(config, tmp_path).batch_at(0, 20)[0]
    assert calls == ["shard-00.parquet", "shard-01.parquet"]
    assert windows(config, tmp_path).batch_at(0, 20)[0].equal(first)
    assert len(calls) == 2  # read from the cache
    index_files = list((tmp_path / "cache").glob("parquet-index-*.json"))
    assert len(index_files) == 1 and index_files[0].stat().st_size < 4000
    index_files[0].write_text("[]")  # damaged: valid JSON, not the index
    assert windows(config, tmp_path).batch_at(0, 20)[0].equal(first)
    assert len(calls) == 4  # rebuilt
    shard = tmp_path / "a" / "shard-01.parquet"
    st = shard.stat()
    os.utime(shard, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    windows(config, tmp_path)
    assert len(calls) == 6


def test_ranks_decode_only_the_row_groups_of_their_rows_and_see_one_process_rows(tmp_path,
                                                                               monkeypatch):
    shards = write_shards(tmp_path / "a", 4, 50, seed=8, row_group=7)
    config = ParquetDataConfig(paths=[str(tmp_path / "a")], val_fraction=0.0, lanes=2)
    windows(config, tmp_path)  # the index, built before the spy
    # each row group's token range in the flat stream, from pyarrow directly
    ranges, at = [], 0
    for s, rows in enumerate(shards):
        meta = pq.ParquetFile(tmp_path / "a" / f"shard-{s:02d}.parquet").metadata
        first = 0
        for g in range(meta.num_row_groups):
            n = meta.row_group(g).num_rows
            size = sum(len(r) + 1 for r in rows[first:first + n])
            ranges.append(((f"shard-{s:02d}.parquet", g), at, at + size))
            at, first = at + size, first + n
    read = {}
    real = parquet_index.read_lists

    def spy(pf, path, group, *rest):
        read.setdefault(rank, set()).add((Path(path).name, group))
        return real(pf, path, group, *rest)

    monkeypatch.setattr(parquet_index, "read_lists", spy)
    steps, rows = 12, {}
    for rank, world in ((0, 2), (1, 2), ("one", 1)):
        w = windows(config, tmp_path, batch_size=8)
        # no reading ahead: the reads are then exactly those of the steps taken
        loader = BatchLoader(w, 8, 2, 0 if rank == "one" else rank, world, "cpu", depth=0)
        rows[rank] = [loader.next_step() for _ in range(steps)]
        loader.close()
    _, served = w.windows_of(0, steps * 8)
    for rank in (0, 1):
        mine = served.reshape(steps, 8)[:, 4 * rank:4 * rank + 4].ravel()
        needed = {name for name, lo, hi in ranges
                  if any(lo < (s + 1) * T and s * T < hi for s in mine)}
        assert read[rank] == needed  # the row groups its own windows lie in, no other
        assert len(read[rank]) < len(read["one"])
    for step in range(steps):
        for c, chunk in enumerate(rows["one"][step]):  # rank 0 owns chunks 0-1, rank 1 2-3
            owner, other = rows[c // 2][step][c], rows[1 - c // 2][step][c]
            assert chunk[0].equal(owner[0]) and chunk[1].equal(owner[1])
            assert not other[0].any() and not other[1].any()  # the other rank's stand-ins


def test_position_resumes_exactly_and_refuses_another_layout(tmp_path):
    write_shards(tmp_path / "a", 2, 60, seed=9)
    config = ParquetDataConfig(paths=[str(tmp_path / "a")], val_fraction=0.0, lanes=2)
    w = windows(config, tmp_path)
    expected = w.batch_at(0, 64)[0]
    loader = BatchLoader(w, 8, 0, 0, 1, "cpu", depth=2)
    for _ in range(3):
        loader.next_step()
    state = loader.state_dict()
    loader.close()
    assert state["consumed"] == 24  # the steps taken, not those read ahead
    resumed = windows(config, tmp_path)
    resumed.load_state_dict(state)
    again = BatchLoader(resumed, 8, 0, 0, 1, "cpu")
    assert again.next_step()[0][0].equal(expected[24:32])
    again.close()
    for wrong in (dict(batch_size=4), dict(seed=4), dict(unique_tokens=20 * T)):
        with pytest.raises(UserError, match="another parquet corpus or layout"):
            windows(config, tmp_path, **wrong).load_state_dict(state)


# -- bad inputs -----------------------------------------------------------------------------
def spec_with(data: str) -> str:
    head, _, tail = BASE.partition("[data]")
    rest = tail.split("\n[", 1)
    return head + data + ("\n[" + rest[1] if len(rest) > 1 else "")


@pytest.mark.parametrize("case", ["no-match", "no-column", "id-too-large", "null-id",
                                  "weight-zero"])
def test_bad_parquet_inputs_exit_2_naming_the_shard(tmp_path, monkeypatch, capsys, case):
    monkeypatch.chdir(tmp_path)
    write_shards(tmp_path / "ok", 1, 20, seed=0)
    bad = tmp_path / "bad.parquet"
    data = {"no-match": ('[data]\nkind = "parquet"\npaths = ["nothing/*.parquet"]\n',
                         "nothing/*.parquet"),
            "no-column": ('[data]\nkind = "parquet"\npaths = ["bad.parquet"]\n', "bad.parquet"),
            "id-too-large": ('[data]\nkind = "parquet"\npaths = ["bad.parquet"]\n',
                             "bad.parquet"),
            "null-id": ('[data]\nkind = "parquet"\npaths = ["bad.parquet"]\n', "bad.parquet"),
            "weight-zero": ('[data]\nkind = "parquet"\n[data.buckets.web]\npaths = ["ok"]\n'
                            'weight = 0.0\n', "data.buckets.web.weight")}[case]
    if case == "no-column":
        pq.write_table(pa.table({"ids": [[1, 2, 3]] * 10}), bad)
    if case == "id-too-large":
        pq.write_table(pa.table({"tokens": [[1, 2, 3]] * 9 + [[5, 300]]}), bad)
    if case == "null-id":
        pq.write_table(pa.table({"tokens": [[1, 2, 3]] * 9 + [[5, None]]}), bad)
    spec = spec_with(data[0])
    (tmp_path / "spec.toml").write_text(spec)
    code, err = call(["run", "spec.toml", "--quiet"], capsys)
    check(code, err, data[1])
    if case == "id-too-large":
        assert "300" in err and "258" in err
    if case == "null-id":
        assert "null" in err
