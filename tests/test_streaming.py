"""Streaming the training split: rank-local reading, read-ahead that changes no batch, the
checkpointed position of .bin, parquet and streamed Hugging Face sources resumed exactly
(by the loader and by the trainer), and the property the rank-local rows rely on: an
objective's random draws depend on a batch's shape, never on its tokens."""

from __future__ import annotations

import importlib.util
import json
import time

import numpy as np
import pytest
import torch

import test_train
from difflaws import checkpoint, engine
from difflaws.builtins.data import HFDataConfig, TokensDataConfig
from difflaws.data import tokens_file
from difflaws.data.lanes import Lanes
from difflaws.data.loader import BatchLoader
from difflaws.data.prefetch import Prefetcher
from difflaws.data.source import held_out
from difflaws.plugins import PluginHost
from difflaws.tokenizers.bytes import EOS_ID, ByteTokenizer
from difflaws.train.trainer import train
from test_train import Crash, crash_after, curve

host = test_train.host  # the stand-in components (a module-scoped fixture)
TOK = ByteTokenizer()
T, B = 16, 8
needs_datasets = pytest.mark.skipif(importlib.util.find_spec("datasets") is None,
                                    reason="the hf kind needs the datasets package")


def steps_of(loader, n: int) -> list:
    return [[(x.clone(), d.clone()) for x, d in loader.next_step()] for _ in range(n)]


def same_steps(a, b) -> bool:
    return len(a) == len(b) and all(
        len(sa) == len(sb) and all(xa.equal(xb) and da.equal(db)
                                   for (xa, da), (xb, db) in zip(sa, sb))
        for sa, sb in zip(a, b))


# -- lanes and read-ahead ---------------------------------------------------------------
@pytest.mark.parametrize("batch, lanes", [(8, 2), (12, 5), (3, 8)])
def test_lanes_partition_every_step_into_contiguous_streams(batch, lanes):
    layout = Lanes(batch, lanes)
    lane, n = layout.locate(0, 7 * batch)
    for l in range(layout.count):
        mine = np.flatnonzero(lane == l)
        assert np.array_equal(n[mine], np.arange(len(mine)))  # a lane's items, in order
        assert np.array_equal(layout.sequence(l, n[mine]), mine)  # the inverse
        for consumed in (0, batch, 3 * batch + 1, 7 * batch):
            assert layout.consumed_in(l, consumed) == int((mine < consumed).sum())
    columns = lane[:batch]
    assert (np.diff(columns) >= 0).all() and layout.count == min(batch, lanes)
    assert layout.lanes_of(range(0, batch)) == list(range(layout.count))


def test_prefetcher_hands_out_in_order_and_raises_where_the_producer_failed():
    def produce(i):
        if i == 5:
            raise OSError("disk gone")
        return i * i

    for depth in (0, 3):
        p = Prefetcher(produce, depth)
        assert [p.next() for _ in range(5)] == [0, 1, 4, 9, 16]
        with pytest.raises(OSError, match="disk gone"):
            p.next()
        p.close()


def test_lru_keeps_what_was_used_last_and_hands_back_what_drops_out():
    from difflaws.data.lru import LRU

    made, dropped = [], []
    cache = LRU(2, evicted=dropped.append)

    def get(key):
        return cache.get(key, lambda: made.append(key) or key * 10)

    assert [get(1), get(2), get(1), get(3)] == [10, 20, 10, 30]
    assert made == [1, 2, 3] and dropped == [20]  # 2 goes: 1 was used since
    assert get(2) == 20 and made == [1, 2, 3, 2] and dropped == [20, 10]


def bin_windows(tmp_path, seed=3):
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 256, 3000)
    ids[rng.random(3000) < 0.05] = EOS_ID
    path = tmp_path / "train.bin"
    if not path.exists():
        tokens_file.write(path, ids, vocab_size=258, eos_id=EOS_ID, tokenizer="bytes")
    source = TokensDataConfig(path=str(path), val_fraction=0.1).build()
    return source.train_windows(TOK, tmp_path, T, seed, 0, B)


def parquet_windows(tmp_path):
    pytest.importorskip("pyarrow")
    from difflaws.builtins.data import ParquetDataConfig
    from test_parquet_data import write_shards

    if not (tmp_path / "pq").exists():
        write_shards(tmp_path / "pq", 2, 60, seed=4)
    config = ParquetDataConfig(paths=[str(tmp_path / "pq")], val_fraction=0.0, lanes=2)
    return config.build().train_windows(TOK, tmp_path / "cache", T, 3, 0, B)


def write_documents(root, n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    texts = ["".join(chr(97 + c) for c in rng.integers(0, 26, rng.integers(1, 30)))
             for _ in range(n)]
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "docs.jsonl", "w") as f:
        for text in texts:
            f.write(json.dumps({"text": text}) + "\n")
    return texts


def hf_config(root, **extra) -> HFDataConfig:
    return HFDataConfig(dataset=str(root), max_documents=0, val_fraction=0.1,
                        val_documents=50, lanes=2, **extra)


def hf_windows(tmp_path):
    if not (tmp_path / "hf").exists():
        write_documents(tmp_path / "hf", 120)
    return hf_config(tmp_path / "hf").build().train_windows(TOK, tmp_path, T, 3, 0, B)


KINDS = {"tokens": bin_windows, "parquet": parquet_windows, "hf": hf_windows}


@pytest.mark.parametrize("kind", ["tokens", "parquet", pytest.param("hf", marks=needs_datasets)])
def test_read_ahead_gives_the_batches_of_the_synchronous_path(tmp_path, kind):
    make = KINDS[kind]
    sync = BatchLoader(make(tmp_path), B, 4, 0, 1, "cpu", depth=0)
    ahead = BatchLoader(make(tmp_path), B, 4, 0, 1, "cpu", depth=3)
    want, got = steps_of(sync, 12), steps_of(ahead, 12)
    assert same_steps(want, got)
    assert ahead.state_dict() == sync.state_dict()  # read ahead, not taken: not counted
    assert ahead.state_dict()["consumed"] == 12 * B
    ahead.close()


@pytest.mark.parametrize("kind", ["tokens", "parquet", pytest.param("hf", marks=needs_datasets)])
def test_two_ranks_see_the_single_process_rows_and_resume_at_any_world_size(tmp_path, kind):
    make = KINDS[kind]
    one = BatchLoader(make(tmp_path), B, 2, 0, 1, "cpu")
    reference = steps_of(one, 14)
    one.close()
    ranks = [BatchLoader(make(tmp_path), B, 2, r, 2, "cpu") for r in range(2)]
    got = [steps_of(loader, 6) for loader in ranks]
    for step in range(6):
        for c in range(4):  # chunks of 2 rows: rank 0 owns 0-1, rank 1 owns 2-3
            assert reference[step][c][0].equal(got[c // 2][step][c][0])
    # each rank reports the positions it leads; the sum over ranks is the whole position
    own = [loader.state_dict() for loader in ranks]
    if "positions" in own[0]:
        other = [torch.tensor(s["positions"]) for s in own]
        state = ranks[0].state_dict(lambda t: t + other[1])
        assert state == ranks[1].state_dict(lambda t: t + other[0])
    else:
        state = own[0]
        assert own[1] == state
    for loader in ranks:
        loader.close()
    resumed = make(tmp_path)  # at world size 1
    resumed.load_state_dict(state)
    loader = BatchLoader(resumed, B, 2, 0, 1, "cpu")
    assert same_steps(steps_of(loader, 8), reference[6:])
    loader.close()


@needs_datasets
def test_streamed_hf_lanes_pack_their_documents_in_order_and_wrap_around(tmp_path):
    texts = write_documents(tmp_path / "hf", 120)
    w = hf_config(tmp_path / "hf").build().train_windows(TOK, tmp_path, T, 3, 0, B)
    assert w.pool_tokens is None  # unbounded: never recorded as repeated
    L = 2
    lanes = []
    for lane in range(L):  # each lane: its training documents, each then EOS, cut
        stream = [t for i, text in enumerate(texts) if i % L == lane
                  and not held_out(f"{i}", 0.1) for t in list(text.encode()) + [EOS_ID]]
        cut = np.array(stream[:len(stream) // T * T]).reshape(-1, T)
        lanes.append(np.concatenate([cut] * 3))  # the source ends: the lane starts over
    n = min(len(x) for x in lanes) * 2 - 2 * B  # sequences within three passes of each lane
    tokens, doc_ids = w.batch_at(0, n)
    lane, item = Lanes(B, L).locate(0, n)
    for k in range(n):
        assert np.array_equal(tokens[k].numpy(), lanes[lane[k]][item[k]]), k
    eos = tokens == EOS_ID
    assert torch.equal(doc_ids, torch.cumsum(eos, 1) - eos.long())
    assert n > 2 * len(lanes[0]) // 3  # the check spans a wrap-around


def document_lanes(texts, lanes: int = 1, seq_len: int = 4):
    """Lane streams over ``texts`` held in memory (every document a training one)."""
    from difflaws.data.lane_streams import LaneStreams

    return LaneStreams(lambda start: ((i, texts[i]) for i in range(start, len(texts))),
                       lambda i: True, TOK, seq_len, B, lanes, identity="in memory")


def test_lane_streams_skip_empty_documents_as_a_cached_text_source_does():
    texts = ["ab", "", "cde", None, "f", "", "ghij"] * 10
    w = document_lanes(texts)  # one lane: the documents in order
    stream = [t for text in texts if text for t in list(text.encode()) + [EOS_ID]]
    n = len(stream) // 4
    assert np.array_equal(w.batch_at(0, n)[0].numpy().ravel(), stream[:n * 4])


def test_a_checkpoint_of_wide_lanes_read_far_ahead_finds_its_position(monkeypatch):
    """Each lane keeps the window starts of its last KEPT_STEPS steps' items: enough for a
    loader that has read its steps ahead, however wide the lane (here one lane of B)."""
    from difflaws.data import lane_streams

    monkeypatch.setattr(lane_streams, "KEPT_STEPS", 4)  # the read-ahead depth is 2 (+1)
    rng = np.random.default_rng(3)
    texts = ["".join(chr(97 + c) for c in rng.integers(0, 26, rng.integers(1, 12)))
             for _ in range(200)]
    reference = steps_of(BatchLoader(document_lanes(texts), B, 0, 0, 1, "cpu", depth=0), 8)
    ahead = BatchLoader(document_lanes(texts), B, 0, 0, 1, "cpu", depth=2)
    steps_of(ahead, 5)
    deadline = time.monotonic() + 30
    while not ahead.prefetcher.ready.full() and time.monotonic() < deadline:
        time.sleep(0.01)  # the reader two steps ahead (and making a third)
    assert ahead.prefetcher.ready.full()
    state = ahead.state_dict()
    ahead.close()
    resumed = document_lanes(texts)
    resumed.load_state_dict(state)
    again = BatchLoader(resumed, B, 0, 0, 1, "cpu", depth=0)
    assert same_steps(steps_of(again, 3), reference[5:])


@needs_datasets
def test_streamed_hf_refuses_a_pool_cap_and_validates_on_held_out_documents(tmp_path):
    from difflaws.errors import UserError

    texts = write_documents(tmp_path / "hf", 120)
    source = hf_config(tmp_path / "hf").build()
    with pytest.raises(UserError, match="data.unique_tokens = 100 needs a corpus of known size"):
        source.train_windows(TOK, tmp_path, T, 3, 100, B)
    val = np.asarray(source.stream("val", TOK, tmp_path))
    want = [t for i, text in enumerate(texts[:50]) if held_out(f"{i}", 0.1)
            for t in list(text.encode()) + [EOS_ID]]
    assert want and np.array_equal(val, want)


# -- the trainer, killed and resumed -----------------------------------------------------
def spec_for(tmp_path, kind: str) -> str:
    if kind == "tokens":
        bin_windows(tmp_path)
        data = f'kind = "tokens"\npath = "{tmp_path / "train.bin"}"\nval_fraction = 0.2\n'
    elif kind == "parquet":
        parquet_windows(tmp_path)
        data = f'kind = "parquet"\npaths = ["{tmp_path / "pq"}"]\nval_fraction = 0.2\nlanes = 2\n'
    else:
        write_documents(tmp_path / "hf", 300)
        data = f'kind = "hf"\ndataset = "{tmp_path / "hf"}"\nmax_documents = 0\n' \
               'val_fraction = 0.2\nval_documents = 200\nlanes = 2\n'
    head, _, rest = test_train.SPEC.partition("[data]\n")
    tail = rest[rest.index("[train]"):]
    return (head + "[data]\n" + data + tail).replace("steps = 24", "steps = 10") \
        .replace("seq_len = 32", f"seq_len = {T}").replace("checkpoint_every = 6",
                                                             "checkpoint_every = 4")


@pytest.mark.parametrize("kind", ["tokens", "parquet", pytest.param("hf", marks=needs_datasets)])
def test_a_streamed_run_killed_and_resumed_is_bitwise_the_uninterrupted_one(tmp_path, host,
                                                                              monkeypatch, kind):
    path = tmp_path / "spec.toml"
    path.write_text(spec_for(tmp_path, kind))
    spec = engine.load(path, host=host)
    full_dir = engine.open_run_dir(spec, str(tmp_path / "ws" / "full"), host=host)
    full = train(spec, full_dir, quiet=True, host=host)
    cut = engine.open_run_dir(spec, str(tmp_path / "ws" / "cut"), host=host)
    with monkeypatch.context() as m:
        crash_after(m, 7)  # the last checkpoint is step 4's; steps 5-7 were read ahead too
        with pytest.raises(Crash):
            train(spec, cut, quiet=True, host=host)
    step, _, state = checkpoint.latest(cut)
    assert step == 4 and state["data"]["consumed"] == 4 * B
    resumed = train(spec, cut, quiet=True, host=host)
    assert curve(cut) == curve(full_dir)
    assert resumed["val_nelbo"] == full["val_nelbo"]
    _, weights, _ = checkpoint.latest(cut)
    _, reference, _ = checkpoint.latest(full_dir)
    assert all(torch.equal(weights[k], reference[k]) for k in reference)


# -- why stand-in rows are safe ---------------------------------------------------------------
def built_objectives():
    """Every built-in objective: diffusion over each noise kind (with clean prefixes where
    the kind has them), and the autoregressive one."""
    import attrs

    registry = PluginHost(entry_points=False).registry
    diffusion = registry.get("objective", "diffusion").config()
    out = []
    for kind in registry.kinds():
        if kind.category == "noise":
            noise = kind.config()
            if "prompt_fraction" in attrs.fields_dict(type(noise)):
                noise = attrs.evolve(noise, prompt_fraction=0.3)
            out.append((kind.name, diffusion.build(noise=noise, vocab_size=258,
                                                   mask_id=257, eos_id=EOS_ID)))
    out.append(("autoregressive", registry.get("objective", "autoregressive").config().build(
        vocab_size=258, mask_id=257, eos_id=EOS_ID)))
    return out


@pytest.mark.parametrize("name, objective", built_objectives(), ids=lambda v: str(v)[:20])
def test_an_objectives_draws_depend_on_the_batch_shape_not_its_tokens(name, objective):
    """A rank draws the noise of other ranks' rows from stand-in zeros: the generator must
    advance, and the loss mask (which weights the micro-batches) come out, the same."""
    real = torch.randint(0, 256, (6, 24), generator=torch.Generator().manual_seed(1))
    real[:, 5] = EOS_ID
    stand_in = torch.zeros_like(real)
    gens = [torch.Generator().manual_seed(7) for _ in range(2)]
    a, b = objective.batch(real, gens[0]), objective.batch(stand_in, gens[1])
    assert torch.equal(gens[0].get_state(), gens[1].get_state()), name
    assert torch.equal(a.loss_mask, b.loss_mask), name
    for field in ("log_snr", "prefix_len"):
        va, vb = getattr(a, field), getattr(b, field)
        assert (va is None and vb is None) or torch.equal(va, vb), (name, field)
