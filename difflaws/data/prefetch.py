"""Reading ahead: the next batches prepared in a background thread while the model trains.

``Prefetcher(produce, depth)`` calls ``produce(0)``, ``produce(1)``, ... in that order,
in one thread, holding at most ``depth`` results the consumer has not taken (and making
one more meanwhile), and hands them out in order.  The results are exactly those of calling ``produce`` in the consumer's loop: the
same calls in the same order, so even a sequential source (whose result depends on the
calls before) gives the same batches.  An exception in ``produce`` is raised by the
:meth:`Prefetcher.next` that would have returned its result.  ``depth = 0`` calls
``produce`` in the consumer's own thread.
"""

from __future__ import annotations

import queue
import threading

POLL_SECONDS = 0.1  # how often a blocked producer checks whether it was closed


class Prefetcher:
    def __init__(self, produce, depth: int):
        self.produce, self.depth, self.index = produce, depth, 0
        if depth > 0:
            self.ready: queue.Queue = queue.Queue(maxsize=depth)
            self.stopped = threading.Event()
            # a daemon: a producer blocked in I/O must not keep a finished process alive
            self.thread = threading.Thread(target=self._run, name="difflaws-prefetch",
                                           daemon=True)
            self.thread.start()

    def _run(self) -> None:
        i = 0
        while not self.stopped.is_set():
            try:
                item = (True, self.produce(i))
            except BaseException as exc:  # handed to the consumer, who raises it
                item = (False, exc)
            while not self.stopped.is_set():
                try:
                    self.ready.put(item, timeout=POLL_SECONDS)
                    break
                except queue.Full:
                    continue
            if not item[0]:
                return
            i += 1

    def next(self):
        if self.depth == 0:
            out = self.produce(self.index)
            self.index += 1
            return out
        ok, value = self.ready.get()
        if not ok:
            self.close()
            raise value
        self.index += 1
        return value

    def close(self) -> None:
        if self.depth == 0 or self.stopped.is_set():
            return
        self.stopped.set()
        while True:  # unblock a producer waiting to put
            try:
                self.ready.get_nowait()
            except queue.Empty:
                break
        if self.thread is not threading.current_thread():
            self.thread.join(timeout=10 * POLL_SECONDS)
