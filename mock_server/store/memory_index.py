"""Equality indexes for the memory store, so a filtered list costs what it finds, not what is stored.

An index on (collection, field) maps each value of the field to the keys of the records holding it;
it is made the first time a query filters a large collection on that field with `eq`, and kept up
to date by every write from then on. Keys of an indexed collection also keep their position in the
store's dict, because a query answers ties in that order and candidates must come back in it.
"""
from __future__ import annotations

from collections.abc import Hashable, Iterable

MIN_ROWS = 512  # below this a scan is as quick as a lookup, and nothing needs indexing
_UNHASHABLE = object()  # the bucket of records whose value is a list or a dict: always candidates


def _slot(value) -> Hashable:
    try:
        hash(value)
    except TypeError:
        return _UNHASHABLE
    return value


class Indexes:
    """Every equality index of one memory store (the store's lock guards all of it)."""

    def __init__(self, min_rows: float = MIN_ROWS) -> None:
        self.min_rows = min_rows
        self._by: dict[str, dict[str, dict[Hashable, dict]]] = {}  # collection → field → value → {key: None}
        self._position: dict[str, dict] = {}  # collection → key → insertion number
        self._next: dict[str, int] = {}

    def wrote(self, collection: str, key, old: dict | None, new: dict | None) -> None:
        """A record of `collection` went from `old` to `new` (None: absent)."""
        indexes = self._by.get(collection)
        if not indexes:  # the common case: nothing of this collection is indexed
            return
        position = self._position[collection]
        if new is not None and old is None:  # (re)added: last in the dict's order, as in the store
            self._next[collection] = position[key] = self._next[collection] + 1
        elif new is None and old is not None:
            position.pop(key, None)
        for field, buckets in indexes.items():
            if old is not None:
                bucket = buckets.get(_slot(old.get(field)))
                if bucket is not None:
                    bucket.pop(key, None)
            if new is not None:
                buckets.setdefault(_slot(new.get(field)), {})[key] = None

    def candidates(self, collection: str, rows: dict, where: Iterable) -> list | None:
        """The keys that can match `where`'s equality filters, in insertion order; None: scan all."""
        if len(rows) < self.min_rows:
            return None
        best: tuple[dict, dict] | None = None  # the smallest (bucket, unhashables) pair
        for name, op, value in where:
            if op != "eq" or not isinstance(name, str) or _slot(value) is _UNHASHABLE:
                continue
            buckets = self._index(collection, name, rows)
            found = (buckets.get(value, {}), buckets.get(_UNHASHABLE, {}))
            if best is None or len(found[0]) + len(found[1]) < len(best[0]) + len(best[1]):
                best = found
        if best is None:
            return None
        keys = [*best[0], *best[1]]
        keys.sort(key=self._position[collection].__getitem__)
        return keys

    def _index(self, collection: str, field: str, rows: dict) -> dict:
        indexes = self._by.setdefault(collection, {})
        buckets = indexes.get(field)
        if buckets is None:
            buckets = indexes[field] = {}
            for key, record in rows.items():
                buckets.setdefault(_slot(record.get(field)), {})[key] = None
            if collection not in self._position:
                self._position[collection] = {key: n for n, key in enumerate(rows, 1)}
                self._next[collection] = len(rows)
        return buckets

    def forget(self, prefix: str = "") -> None:
        """Drop what is kept for the collections starting with `prefix` (all of them by default)."""
        for table in (self._by, self._position, self._next):
            for name in [n for n in table if n.startswith(prefix)]:
                del table[name]
