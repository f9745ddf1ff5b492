"""Documents streamed in order, packed lane by lane: training on a corpus never cached whole.

Document ``d`` of the stream (its position in the source; validation and empty ones skipped)
belongs to lane ``d mod L`` (:mod:`difflaws.data.lanes`).  Each lane packs its documents,
each followed by EOS, into ``seq_len`` windows in order, as a flat stream is cut
(:mod:`difflaws.data.packing`: the same document ids), and serves them as its items
0, 1, 2, ...  When the source ends, a lane drops its partial last window and starts over
(its next epoch).  A rank tokenises only its lanes' documents.

A lane's position is where its next window starts: ``(epoch, document, offset)`` into
that document's tokens and EOS.  A checkpoint holds every lane's (each is reported by the
rank that leads it and summed across ranks, :meth:`LaneStreams.state_at`), so a run
resumes exactly, at any world size; documents before a lane's position are skipped
without being tokenised.  The positions kept are those of windows not yet consumed, so
batches read ahead (:mod:`difflaws.data.prefetch`) are read again after a resume.
"""

from __future__ import annotations

import threading
from collections import deque

import numpy as np
import torch

from difflaws.data.lanes import Lanes
from difflaws.data.packing import packed_batch
from difflaws.errors import UserError

PULL = 64  # documents read (and their lanes' tokenised together) per pull
# window starts kept per lane: its items of this many steps, far more than are read ahead
# (difflaws.data.loader), so a checkpoint finds the start of the first item not yet taken
KEPT_STEPS = 64


class Lane:
    def __init__(self, epoch: int = 0, doc: int = 0, offset: int = 0):
        self.epoch, self.doc, self.offset = epoch, doc, offset  # where the next token lies
        self.queues: dict[int, deque] = {}  # epoch → deque of [doc, ids, offset]
        # windows made this epoch; unknown (-1) after a resume mid-epoch
        self.made = 0 if (doc, offset) == (0, 0) else -1

    def queued(self) -> int:
        return sum(len(ids) - off for _, ids, off in self.queues.get(self.epoch, ()))


class LaneStreams:
    def __init__(self, open_documents, is_train, tokenizer, seq_len: int, batch_size: int,
                 lanes: int, identity: str, where: str = "data"):
        """``open_documents(start)`` yields ``(index, text)`` from document ``start`` on;
        ``is_train(index)`` says whether a document is a training one."""
        self.open_documents, self.is_train, self.tokenizer = open_documents, is_train, tokenizer
        self.seq_len, self.eos_id, self.identity, self.where = seq_len, tokenizer.eos_id, \
            identity, where
        self.lanes = Lanes(batch_size, lanes)
        self.state = [Lane() for _ in range(self.lanes.count)]
        self.produced = [0] * self.lanes.count  # the next item each lane makes
        self.starts: list[dict] = [{0: (0, 0, 0)} for _ in range(self.lanes.count)]
        self.mine = set(range(self.lanes.count))
        self.led = set(self.mine)
        self.sources: dict[int, list] = {}  # epoch → [iterator, exhausted]
        self.pool_tokens = None  # unbounded: the stream's length is not known
        self.consumed = 0
        self._lock = threading.Lock()

    def shard(self, columns: range) -> None:
        self.mine = set(self.lanes.lanes_of(columns))
        self.led = {lane for lane in self.mine if self.lanes.leads(lane, columns)}

    # -- reading -------------------------------------------------------------------------------
    def _source(self, epoch: int):
        got = self.sources.get(epoch)
        if got is None:
            behind = [self.state[l] for l in self.mine if self.state[l].epoch < epoch]
            here = [self.state[l].doc for l in self.mine if self.state[l].epoch == epoch]
            start = 0 if behind or not here else min(here)
            got = self.sources[epoch] = [iter(self.open_documents(start)), False]
            for old in [e for e in self.sources if e < min(self.state[l].epoch
                                                             for l in self.mine)]:
                del self.sources[old]
        return got

    def _pull(self, epoch: int) -> bool:
        """Read the next documents of ``epoch``'s pass into the queues of the lanes of this
        rank that will need them; False when the pass is over."""
        source = self._source(epoch)
        if source[1]:
            return False
        wanted = []
        for _ in range(PULL):
            try:
                index, text = next(source[0])
            except StopIteration:
                source[1] = True
                break
            lane = index % self.lanes.count
            st = self.state[lane]
            # an empty document adds nothing, as when a text source is cached whole
            if lane not in self.mine or st.epoch > epoch or not text or not self.is_train(index):
                continue
            if st.epoch == epoch and index < st.doc:
                continue
            wanted.append((lane, index, text))
        if wanted:
            ids = self.tokenizer.encode_batch([text for _, _, text in wanted])
            for (lane, index, _), doc in zip(wanted, ids):
                st = self.state[lane]
                full = np.append(np.asarray(doc, dtype=np.int64), self.eos_id)
                skip = st.offset if (st.epoch == epoch and index == st.doc) else 0
                st.queues.setdefault(epoch, deque()).append([index, full, skip])
        return bool(wanted) or not source[1]

    def _window(self, lane: int, out: np.ndarray) -> None:
        """Lane ``lane``'s next window into ``out``."""
        st, T = self.state[lane], self.seq_len
        while st.queued() < T:
            if self._pull(st.epoch):
                continue
            if st.made == 0:
                raise UserError(f"{self.where}: lane {lane} of data.lanes = {self.lanes.count} "
                                f"got no whole window of train.seq_len = {T} from a full pass "
                                "over the documents; lower data.lanes or seq_len, or use more "
                                "documents")
            st.queues.pop(st.epoch, None)
            st.epoch, st.doc, st.offset, st.made = st.epoch + 1, 0, 0, 0
            with self._lock:
                self.starts[lane][self.produced[lane]] = (st.epoch, 0, 0)
        queue, filled = st.queues[st.epoch], 0
        while filled < T:
            head = queue[0]
            index, ids, off = head
            take = min(T - filled, len(ids) - off)
            out[filled:filled + take] = ids[off:off + take]
            filled += take
            head[2] = off + take
            if head[2] == len(ids):
                queue.popleft()
                st.doc, st.offset = index + 1, 0
            else:
                st.doc, st.offset = index, head[2]
        st.made = st.made + 1 if st.made >= 0 else 1
        self.produced[lane] += 1
        with self._lock:
            starts = self.starts[lane]
            starts[self.produced[lane]] = (st.epoch, st.doc, st.offset)
            if len(starts) > KEPT_STEPS * self.lanes.width[lane]:
                del starts[next(iter(starts))]

    def batch_at(self, first: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Sequences ``first .. first+count-1`` (sequentially: each lane's items are made in
        order, those of other ranks skipped)."""
        T = self.seq_len
        lane, n = self.lanes.locate(first, count)
        flat = np.empty(count * T, dtype=np.int64)
        scratch = np.empty(T, dtype=np.int64)
        for i in range(count):
            l, item = int(lane[i]), int(n[i])
            if item < self.produced[l]:
                raise ValueError(f"lane {l} item {item} was read already (sequential source)")
            while self.produced[l] < item:
                self._window(l, scratch)
            self._window(l, flat[i * T:(i + 1) * T])
        return packed_batch(flat, np.arange(count, dtype=np.int64) * T, T, self.eos_id)

    # -- the data position -----------------------------------------------------------------
    def state_at(self, consumed: int, reduce=None) -> dict:
        """The position after ``consumed`` sequences; ``reduce`` sums a tensor over ranks."""
        positions = torch.zeros(self.lanes.count, 3, dtype=torch.int64)
        with self._lock:
            for lane in self.led:
                item = self.lanes.consumed_in(lane, consumed)
                starts = self.starts[lane]
                for old in [k for k in starts if k < item]:
                    del starts[old]
                positions[lane] = torch.tensor(starts[item])
        if reduce is not None:
            positions = reduce(positions)
        return {"consumed": int(consumed), "corpus": self.identity, "lanes": self.lanes.count,
                "batch_size": self.lanes.batch_size, "positions": positions.tolist()}

    def state_dict(self) -> dict:
        return self.state_at(self.consumed)

    def load_state_dict(self, state: dict) -> None:
        mine = {k: v for k, v in self.state_dict().items() if k not in ("consumed", "positions")}
        wrong = [k for k in mine if state.get(k) != mine[k]]
        if wrong:
            raise UserError(f"the checkpoint's data position belongs to another document "
                            f"stream or layout ({', '.join(wrong)} differ); start a new run "
                            "directory")
        self.consumed = int(state["consumed"])
        for lane, (epoch, doc, offset) in enumerate(state["positions"]):
            self.state[lane] = Lane(int(epoch), int(doc), int(offset))
            self.produced[lane] = self.lanes.consumed_in(lane, self.consumed)
            self.starts[lane] = {self.produced[lane]: (int(epoch), int(doc), int(offset))}
        self.sources.clear()
