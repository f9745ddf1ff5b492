"""A least-recently-used cache of what a rank is reading: the few epoch orders, blocks,
mixture rounds, decoded row groups and open shards in use, each made again only if it
dropped out."""

from __future__ import annotations

from collections import OrderedDict


class LRU:
    def __init__(self, capacity: int, evicted=None):
        """``evicted(value)`` is called on what drops out (e.g. to close a file)."""
        self.capacity, self.evicted = capacity, evicted
        self.items: OrderedDict = OrderedDict()

    def get(self, key, make):
        """``key``'s value, made by ``make()`` when it is not held."""
        got = self.items.get(key)
        if got is not None:
            self.items.move_to_end(key)
            return got
        got = self.items[key] = make()
        while len(self.items) > self.capacity:
            _, old = self.items.popitem(last=False)
            if self.evicted is not None:
                self.evicted(old)
        return got
