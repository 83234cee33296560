"""The default store: dicts in one process, guarded by a lock for Flask's threaded server."""
from __future__ import annotations

import threading

from mock_server import jsonio
from mock_server.store.base import Query, Store, matches


class MemoryStore(Store):
    def __init__(self):
        self._lock = threading.RLock()
        self._data: dict[str, dict] = {}
        self._counters: dict[str, int] = {}
        self._clock = 0
        self._json: dict[int, tuple[dict, object]] = {}  # id(record) → (record, its JSON)

    def transaction(self):
        return self._lock

    def insert(self, collection, key, record):
        with self._lock:
            self._data.setdefault(collection, {})[key] = record

    def get(self, collection, key):
        return self._data.get(collection, {}).get(key)

    def replace(self, collection, key, record):
        with self._lock:
            old = self._data.setdefault(collection, {}).get(key)
            self._json.pop(id(old), None)
            self._data[collection][key] = record

    def delete(self, collection, key):
        with self._lock:
            old = self._data.get(collection, {}).pop(key, None)
            self._json.pop(id(old), None)
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
            rows = list(self._data.get(collection, {}).values())
        if query.where:
            rows = [r for r in rows if matches(r, query.where)]
        for name, descending in reversed(query.order_by):
            # Stable sorts applied last-key-first give a multi-key order; missing values sort last.
            present = [r for r in rows if r.get(name) is not None]
            absent = [r for r in rows if r.get(name) is None]
            present.sort(key=lambda r: r[name], reverse=descending)
            rows = present + absent
        total = len(rows)
        end = None if query.limit is None else query.offset + query.limit
        return rows[query.offset:end], total

    def next_value(self, counter):
        with self._lock:
            self._counters[counter] = value = self._counters.get(counter, 0) + 1
            return value

    def _advance_clock(self, candidate_us):
        with self._lock:
            self._clock = max(candidate_us, self._clock + 1)
            return self._clock

    def clear(self):
        with self._lock:
            self._data.clear()
            self._json.clear()
            self._counters.clear()
            self._clock = 0

    def collections(self):
        with self._lock:
            return {name: len(rows) for name, rows in self._data.items()}
