"""Where a world is built before anyone sees it: a memory store for one thread and one job, and
Python's cyclic collector kept out of the way meanwhile.

A seeded world is made in a private store (serve/worlds.py for the server, fixtures.py for
`crm-mock fixtures`) and then handed over whole, or thrown away whole if making it fails. So the
store it is made in needs none of what a served store pays for on every write: a lock, an undo log
for transactions, equality indexes, a records generation. Without them seeding 100,000
opportunities took 13% less time.
"""
from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

from mock_server.store.base import CLOCK
from mock_server.store.memory import MemoryStore


class ScratchStore(MemoryStore):
    """A MemoryStore for building one world in one thread: writes go straight into its dicts, and a
    transaction is only a block (a failed build is discarded, never half-used)."""

    def insert(self, collection, key, record):
        rows = self._data.get(collection)
        if rows is None:
            rows = self._data[collection] = {}
        rows[key] = record

    def replace(self, collection, key, record):
        self._data[collection][key] = record

    def next_value(self, counter):
        counters = self._counters
        counters[counter] = value = counters.get(counter, 0) + 1
        return value

    def _advance_clock(self, candidate_us, name=CLOCK):
        counters = self._counters
        counters[name] = value = max(candidate_us, counters.get(name, 0) + 1)
        return value

    def transaction(self):
        return contextlib.nullcontext(self)


_building = 0  # worlds being made now (namespaces may be reset at once, each in its own thread)
_was_enabled = False
_pausing = threading.Lock()


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic collector off while a world is made. A world is millions of new objects, and
    the collector's passes over them were a tenth of seeding. A world's records hold no cycles, and
    neither do requests (serve/server.py), so nothing is left for the collector meanwhile."""
    global _building, _was_enabled
    with _pausing:
        if _building == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _building += 1
    try:
        yield
    finally:
        with _pausing:
            _building -= 1
            if _building == 0 and _was_enabled:
                # Out of the collector's way before it runs again: its first full pass over a new
                # world of 100,000 opportunities held every request for 170 ms. Frozen objects are
                # still freed when no longer referenced (a world loaded into a SQL store is dropped).
                gc.freeze()
                gc.enable()
