"""The default store: dicts in one process, guarded by a lock for Flask's threaded server."""
from __future__ import annotations

import collections
import threading
import time

from mock_server import jsonio
from mock_server.store.base import CLOCK, Query, SeededWorld, Store, matches
from mock_server.store.memory_index import Indexes

MAX_WINDOWS = 10_000  # rate-limit windows kept at most: a flood of random credentials cannot grow memory


class MemoryStore(Store):
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._data: dict[str, dict] = {}
        self._counters: dict[str, int] = {}  # counters and clocks
        self._logs: dict[str, collections.deque] = {}
        self._windows: dict[str, tuple[float, int]] = {}  # window → (start, requests in it)
        self._generation = 0  # bumped by every record write: cached sums older than it are stale
        self._json: dict[int, tuple[dict, object]] = {}  # id(record) → (record, its JSON)
        self._depth = 0  # nesting of transaction() in the thread holding the lock
        self._undo: list[tuple[str, object, dict | None]] = []  # (collection, key, record before)
        self._indexes = Indexes()  # equality filters on large collections (memory_index.py)

    def transaction(self) -> _Transaction:
        """All or nothing, as SQLite's: an exception inside undoes every write made inside."""
        return _Transaction(self)

    def _roll_back(self, mark: int) -> None:
        self._generation += 1
        while len(self._undo) > mark:
            collection, key, before = self._undo.pop()
            rows = self._data.setdefault(collection, {})
            now = rows.get(key)
            self._json.pop(id(now), None)
            if before is None:
                rows.pop(key, None)
            else:
                rows[key] = before
            self._indexes.wrote(collection, key, now, before)

    def _remember(self, collection, key) -> None:
        self._generation += 1  # every record write comes through here, under the lock
        if self._depth:  # only writes inside a transaction can be undone
            self._undo.append((collection, key, self._data.get(collection, {}).get(key)))

    def insert(self, collection, key, record):
        with self._lock:
            self._remember(collection, key)
            rows = self._data.setdefault(collection, {})
            self._indexes.wrote(collection, key, rows.get(key), record)
            rows[key] = record

    def get(self, collection, key):
        return self._data.get(collection, {}).get(key)

    def replace(self, collection, key, record):
        with self._lock:
            self._remember(collection, key)
            old = self._data.setdefault(collection, {}).get(key)
            self._json.pop(id(old), None)
            self._indexes.wrote(collection, key, old, record)
            self._data[collection][key] = record

    def delete(self, collection, key):
        with self._lock:
            self._remember(collection, key)
            old = self._data.get(collection, {}).pop(key, None)
            self._json.pop(id(old), None)
            self._indexes.wrote(collection, key, old, None)
            return old is not None

    def page(self, collection, query: Query):
        # Stored records never change in place (writers replace them), so each one's JSON is
        # made once; the cache holds the record itself, so its id() cannot be reused meanwhile.
        rows, total = self.query(collection, query)
        out = []
        for record in rows:
            cached = self._json.get(id(record))
            if cached is None:
                cached = self._json[id(record)] = (record, jsonio.fragment(record))
            out.append(cached[1])
        return out, total

    def query(self, collection, query: Query):
        with self._lock:
            stored = self._data.get(collection, {})
            keys = self._indexes.candidates(collection, stored, query.where) if query.where else None
            rows = list(stored.values()) if keys is None else [stored[k] for k in keys]
        if query.where:
            rows = [r for r in rows if matches(r, query.where)]
        if query.order_by and query.order_by[0][1]:
            rows.reverse()  # ties go newest first when the order is descending (see Query)
        for name, descending in reversed(query.order_by):
            # Stable sorts applied last-key-first give a multi-key order; missing values sort last.
            present = [r for r in rows if r.get(name) is not None]
            absent = [r for r in rows if r.get(name) is None]
            present.sort(key=lambda r: _order_key(r[name]), reverse=descending)
            rows = present + absent
        total = len(rows)
        end = None if query.limit is None else query.offset + query.limit
        return rows[query.offset:end], total

    def next_value(self, counter):
        with self._lock:
            self._counters[counter] = value = self._counters.get(counter, 0) + 1
            return value

    def _advance_clock(self, candidate_us, name=CLOCK):
        with self._lock:
            self._counters[name] = value = max(candidate_us, self._counters.get(name, 0) + 1)
            return value

    def _records_generation(self):
        return self._generation

    def dump(self, prefix: str = "") -> SeededWorld:
        # Copies of the dicts, not of the records: stored records are never changed in place.
        with self._lock:
            return SeededWorld({name: dict(rows) for name, rows in self._data.items() if name.startswith(prefix)},
                               {name: value for name, value in self._counters.items() if name.startswith(prefix)})

    def load(self, world):
        # The world's dicts become the store's (its records are never changed in place): a reset
        # to 100,000 opportunities holds the lock for a few dict assignments, not 240,000 inserts.
        replaced = []
        with self._lock:
            self._generation += 1
            for name, rows in world.collections.items():
                self._indexes.forget(name)
                replaced.append(self._data.get(name))
                self._data[name] = rows
            self._counters.update(world.counters)
        _release(replaced)

    def clear(self):
        with self._lock:
            self._generation += 1
            self._data.clear()
            self._json.clear()
            self._indexes.forget()
            self._counters.clear()
            self._logs.clear()
            self._windows.clear()

    def drop(self, prefix):
        dropped = []
        with self._lock:
            self._generation += 1
            self._indexes.forget(prefix)
            for table in (self._data, self._counters, self._logs, self._windows):
                for name in [n for n in table if n.startswith(prefix)]:
                    if table is self._data:
                        self._json.clear()  # rare (a reset): simpler than finding this collection's entries
                        dropped.append(table[name])
                    del table[name]
        _release(dropped)

    def append_log(self, log, entry, keep):
        # The entry itself, not a copy: the journal never changes an entry after appending it.
        with self._lock:
            entries = self._logs.get(log)
            if entries is None or entries.maxlen != keep:
                entries = self._logs[log] = collections.deque(entries or (), maxlen=keep)
            entries.append(entry)

    def read_log(self, log, limit):
        with self._lock:
            entries = list(self._logs.get(log, ()))
        return entries[-limit:] if limit else []

    def hit(self, window, now, seconds, count=1):
        with self._lock:
            start, used = self._windows.get(window, (now, 0))
            if now - start >= seconds:
                start, used = now, 0
            if window not in self._windows and len(self._windows) >= MAX_WINDOWS:
                self._forget_windows(now, seconds)
            self._windows[window] = (start, used + count)
            return start, used + count

    def _forget_windows(self, now: float, seconds: float) -> None:
        """Drop finished windows; if every window is live, drop the oldest half (they restart at 0)."""
        live = {k: w for k, w in self._windows.items() if now - w[0] < seconds}
        if len(live) >= MAX_WINDOWS:
            live = dict(sorted(live.items(), key=lambda item: item[1][0])[len(live) // 2:])
        self._windows = live

    def collections(self):
        with self._lock:
            return {name: len(rows) for name, rows in self._data.items() if rows}  # as SQLite: no empty ones


RELEASE_IN_STEPS = 10_000  # records: a dropped collection larger than this is freed a slice at a time
GRACE_S = 0.5  # before a dropped collection is emptied


def _release(collections: list[dict | None]) -> None:
    """Free dropped collections. Freeing 240,000 records at once held the interpreter for 120 ms (a
    reset from 100,000 opportunities to 100,000), so a large one is emptied by a background thread
    in slices, and other requests run between them."""
    large = [rows for rows in collections if rows and len(rows) > RELEASE_IN_STEPS]
    if large:
        threading.Thread(target=_empty_in_slices, args=(large,), name="crm-mock-release", daemon=True).start()


def _empty_in_slices(collections: list[dict]) -> None:
    # A lock-free `get` that took the old dict just before the drop still finds its record in it.
    time.sleep(GRACE_S)
    while collections:
        rows = collections.pop()
        while rows:
            for _ in range(min(500, len(rows))):
                rows.popitem()
            time.sleep(0)  # a turn for request threads


def _order_key(value) -> tuple:
    """A total order over JSON values, PostgreSQL's for jsonb (string < number < boolean < array <
    object): a field holding a number in one record and a string in another still sorts, as in SQL."""
    if isinstance(value, str):
        return (0, value)
    if isinstance(value, bool):
        return (2, value)
    if isinstance(value, int | float):
        return (1, value)
    return (3 if isinstance(value, list) else 4, jsonio.dumps(value))


class _Transaction:
    """A plain context manager (not @contextmanager: this runs on every write request)."""

    __slots__ = ("mark", "store")

    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    def __enter__(self) -> MemoryStore:
        store = self.store
        store._lock.acquire()
        store._depth += 1
        self.mark = len(store._undo)
        return store

    def __exit__(self, kind, error, traceback) -> None:
        store = self.store
        try:
            if kind is not None:
                store._roll_back(self.mark)
        finally:
            store._depth -= 1
            if store._depth == 0:
                store._undo.clear()
            store._lock.release()
