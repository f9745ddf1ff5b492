"""What ranks other than 0 log to: nothing.  Only rank 0 writes metrics, the DB and progress."""

from __future__ import annotations


class SilentDB:
    """Stands in for the results DB: every write is dropped."""

    def __getattr__(self, name):
        return _ignore


class SilentLog:
    """Stands in for MetricsLog."""

    def write(self, record) -> None:
        pass

    def truncate_after(self, step) -> None:
        pass

    def records(self) -> list:
        return []

    def close(self) -> None:
        pass


def _ignore(*args, **kwargs):
    return None
