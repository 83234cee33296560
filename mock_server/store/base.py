"""The one small interface every store implements, and the query it answers."""
from __future__ import annotations

import abc
import contextlib
import functools
import hashlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from mock_server import jsonio
from mock_server.store.logbuffer import SETTLE, Batch, LogBuffer

CLOCK = "__clock__"
MAX_CACHED = 256  # distinct list totals and sums (collection, filter) kept per store
MAX_INDEXES = 32  # indexes a SQL store makes on demand, at most (one field's or a filter's several)


def prefix_end(prefix: str) -> str:
    """The first string after every string that starts with `prefix` (a range scan's upper bound)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def index_digest(fields: tuple[str, ...]) -> str:
    """The suffix of the index name for `fields`. One field's is its name's, as before indexes could
    span fields: an existing database keeps its indexes."""
    return hashlib.blake2b("\0".join(fields).encode(), digest_size=6).hexdigest()


def sql_key(key) -> str:
    """Integer and string ids share one TEXT column in the SQL stores; the type prefix keeps 1 and "1" apart."""
    return f"i:{key}" if isinstance(key, int) else f"s:{key}"


def from_sql_key(text: str):
    return int(text[2:]) if text.startswith("i:") else text[2:]


class StoreUnavailable(Exception):
    """The store cannot be reached (a database restarting): the request gets the vendor's 503."""


class Stale(Exception):
    """A record a request relied on without reading it (`Store.check_later`) had changed: what
    depended on it runs again (see Stage.confirm). Raised before anything the request wrote commits."""


@dataclass
class Query:
    """Filters (field, operator, value) ANDed together, an ordering, and a page window.

    Operators: eq, in, gt, gte, lt, lte, and contains (a lower-cased text found in the field, case
    insensitively; the field may be a tuple of fields, any of which may hold it). Records equal on
    every order key come in insertion order, newest first when the first key is descending: Close's
    timestamps have millisecond precision, and "newest first" must hold within a millisecond too."""

    where: list[tuple[str, str, Any]] = field(default_factory=list)
    order_by: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)
    offset: int = 0
    limit: int | None = None


@dataclass
class SeededWorld:
    """What seeding made in a scratch MemoryStore, ready for `Store.load`: {collection: {key:
    record}} in insertion order, and {counter or clock name: value}. Names carry their namespace."""

    collections: dict[str, dict]
    counters: dict[str, int]

    @classmethod
    def from_rows(cls, rows, counters) -> SeededWorld:
        """From stored rows (collection, SQL key, JSON text) in insertion order, and (name, value) counters."""
        collections: dict[str, dict] = {}
        for name, key, text in rows:
            collections.setdefault(name, {})[from_sql_key(key)] = jsonio.loads(text)
        return cls(collections, dict(counters))


class Store(abc.ABC):
    """Records are JSON-able dicts (callers copy before changing one) in named collections, keyed by a string or integer id.

    Writers that read-modify-write wrap their work in `transaction()`; counters and the clock are
    part of the store so that several worker processes sharing a SQLite file agree on them.
    """

    @abc.abstractmethod
    def insert(self, collection: str, key, record: dict) -> None: ...

    @abc.abstractmethod
    def get(self, collection: str, key) -> dict | None: ...

    @abc.abstractmethod
    def replace(self, collection: str, key, record: dict) -> None: ...

    @abc.abstractmethod
    def delete(self, collection: str, key) -> bool: ...

    @abc.abstractmethod
    def query(self, collection: str, query: Query) -> tuple[list[dict], int]:
        """The page of matching records and the total number that match."""

    def group_sums(self, collection: str, where: list, by: str, fields: tuple[str, ...]) -> dict:
        """Over every record matching `where`, grouped by the value of `by`: {group: {"count": n,
        field: sum of field, ...}} (a missing or null field adds 0). Sums such as Close's list totals,
        which a list page asks for on every request: computed once per state of the records (see
        `_cached`)."""
        return self._cached(("sums", collection, repr(where), by, fields),
                            lambda: self._sum_groups(collection, where, by, fields))

    def _cached(self, key: tuple, compute):
        """`compute()`, kept until any record changes, when the store knows when that happens
        (`_records_generation`): what a list page recomputes on every request (totals, sums) then
        costs a scan once per state of the records, not once per page."""
        generation = self._records_generation()  # read before computing: a later write makes it stale
        if generation is None:
            return compute()
        cached = self._computed.get(key)
        if cached is not None and cached[0] == generation:
            return cached[1]
        value = compute()
        if len(self._computed) >= MAX_CACHED:
            self._computed.clear()
        self._computed[key] = (generation, value)
        return value

    def _records_generation(self) -> int | None:
        """A number every record write (by any process) moves on; None: not known, compute every time."""
        return None

    @functools.cached_property
    def _computed(self) -> dict[tuple, tuple[int, object]]:
        return {}  # key → (records generation, value): see _cached

    def _sum_groups(self, collection: str, where: list, by: str, fields: tuple[str, ...]) -> dict:
        groups: dict = {}
        for record in self.query(collection, Query(where))[0]:
            group = groups.setdefault(record.get(by), {"count": 0, **dict.fromkeys(fields, 0)})
            group["count"] += 1
            for name in fields:
                group[name] += record.get(name) or 0
        return groups

    def page(self, collection: str, query: Query) -> tuple[list, int]:
        """Like `query`, but each record comes as serialized JSON, ready for a response body:
        a list page then costs a join, not a serialization of every record (bench: list)."""
        rows, total = self.query(collection, query)
        return [jsonio.fragment(r) for r in rows], total

    @abc.abstractmethod
    def next_value(self, counter: str) -> int:
        """1, 2, 3, ... per counter name, never repeated, even across processes."""

    @abc.abstractmethod
    def _advance_clock(self, candidate_us: int, name: str = CLOCK) -> int:
        """Store max(candidate, last + 1) as the clock `name` and return it (microseconds since epoch)."""

    @abc.abstractmethod
    def clear(self) -> None:
        """Remove everything: records, counters, clocks, logs and windows."""

    @abc.abstractmethod
    def drop(self, prefix: str) -> None:
        """Remove every collection, counter, clock, log and window whose name starts with `prefix`
        (one namespace: see store/namespaced.py)."""

    # -- the mock's own bookkeeping, shared by every process of a shared store ------------------------
    @abc.abstractmethod
    def append_log(self, log: str, entry: dict, keep: int) -> None:
        """Append to a bounded log (the request journal); only the newest `keep` entries are kept."""

    @abc.abstractmethod
    def read_log(self, log: str, limit: int) -> list[dict]:
        """The newest `limit` entries of a log, oldest first."""

    def settle_logs(self) -> None:
        """Make every log entry appended so far, by any process, readable (see store/logbuffer.py)."""
        return None  # a store that writes each entry at once has nothing to wait for

    def load(self, world: SeededWorld) -> None:
        """Write a world built elsewhere (records in order, and the counters and clocks that
        continue it) in bulk; called inside `transaction()`, after a `drop()` of its namespace.
        A store that can write many rows at once overrides this (one statement, not 240,000)."""
        for collection, rows in world.collections.items():
            for key, record in rows.items():
                self.insert(collection, key, record)
        for name, value in world.counters.items():
            self._advance_clock(value, name)  # after the drop: sets the counter to `value`

    @abc.abstractmethod
    def dump(self, prefix: str) -> SeededWorld:
        """Every record (in insertion order) and every counter whose name starts with `prefix`:
        a namespace's world, for a snapshot. Logs and rate windows are not part of a world."""

    def copy(self, source: str, target: str) -> None:
        """Write what names under `source` hold again under `target` (a named snapshot, and back);
        inside `transaction()`, after a `drop(target)`."""
        world = self.dump(source)
        self.load(SeededWorld({target + name[len(source):]: rows for name, rows in world.collections.items()},
                              {target + name[len(source):]: value for name, value in world.counters.items()}))

    def copy_over(self, source: str, target: str) -> None:
        """Make what names under `target` hold exactly what `source` holds (records in the same
        order, counters), and drop `target`'s logs and windows: a reset to a named snapshot; inside
        `transaction()`. A store that can write only what differs overrides this."""
        self.drop(target)
        self.copy(source, target)

    def analyze(self) -> None:
        """Refresh the query planner's statistics after a bulk write (a seeded world), so it picks
        the selective index for a filtered page. Stores without a planner do nothing."""
        return None

    @abc.abstractmethod
    def hit(self, window: str, now: float, seconds: float, count: int = 1) -> tuple[float, int]:
        """Count `count` requests in a fixed window (a rate limit), atomically across processes: the
        window's (start, requests so far, these included). A window older than `seconds` restarts at `now`."""

    @abc.abstractmethod
    def collections(self) -> dict[str, int]:
        """Every collection's name and record count (for /__mock/ inspection)."""

    def transaction(self):
        return contextlib.nullcontext()

    def check_later(self, collection: str, key, seen: dict | None) -> bool:
        """Rely on `collection[key]` still being `seen` (None: absent), and have the store check
        that with this thread's next statement instead of a read of its own: across a network, a
        round trip saved on every request. A failed check raises `Stale`, before anything written
        in the statement's transaction commits; `end_check` checks what no statement carried.
        False: this store does not defer, and the caller reads the record now."""
        return False

    def end_check(self, verify: bool = True) -> None:
        """Check now, with a read of its own, what `check_later` promised and no statement has carried
        yet (raising `Stale` if it changed); either way forget it. `verify=False` only forgets."""
        return None

    _pinned: datetime | None = None

    def pin_clock(self, moment: datetime | None) -> None:
        """Seeding sets the clock to generated dates so seeded data is the same every run;
        None returns to wall-clock time."""
        self._pinned = moment

    def _pinned_moment(self) -> datetime | None:
        return self._pinned

    def now(self, after: datetime | None = None) -> datetime:
        """The current time, strictly increasing per store (two writes never share a timestamp). With
        `after`, no earlier than that either: vendors print milliseconds, and a record changed twice
        within one must still show its second change after its first (so they pass its last one + 1 ms)."""
        wall = self._pinned_moment() or datetime.now(UTC)
        if after is not None and after > wall:
            wall = after
        micros = int(wall.timestamp() * 1_000_000)
        value = self._advance_clock(micros)
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=value)

    def all(self, collection: str) -> list[dict]:
        return self.query(collection, Query())[0]



class SqlStore(Store):
    """A store whose `_select_rows` answers a page as stored JSON text and `_count` its total (SQLite,
    PostgreSQL), and whose logs are written in batches (`_write_logs`) and read back (`_read_logs`)."""

    _logs: LogBuffer | None = None

    @abc.abstractmethod
    def _select_rows(self, collection: str, query: Query) -> list[str]: ...

    @abc.abstractmethod
    def _count(self, collection: str, where: list) -> int: ...

    def _select(self, collection: str, query: Query) -> tuple[list[str], int]:
        rows = self._select_rows(collection, query)
        # A page that ends before its limit tells its own total; otherwise count, once per state of the records.
        if rows or not query.offset:
            if query.limit is None or len(rows) < query.limit:
                return rows, query.offset + len(rows)
        return rows, self._cached(("count", collection, repr(query.where)), lambda: self._count(collection, query.where))

    @abc.abstractmethod
    def _write_logs(self, batch: Batch, trim: bool) -> None:
        """Append the batch's entries; with `trim`, also keep only the newest `keep` of each log named in it."""

    @abc.abstractmethod
    def _read_logs(self, log: str, limit: int) -> list[dict]:
        """The newest `limit` entries of a log, oldest first."""

    @functools.cached_property
    def _indexed(self) -> set[tuple[str, ...]]:
        return set()  # field tuples with an index (see _index_for)

    def _equality_indexed(self, name: str) -> bool:
        """Whether `name` has an index for `eq` filters, made here the first time a filter names it:
        a filtered page of 100,000 records then costs what it finds, not a scan."""
        return self._index_for((name,))

    def _shape_indexed(self, where: list, order_by: list) -> None:
        """One index over a filter that names several fields: its `eq` fields, then its first ranged
        field, else the field it is ordered by (Close's status + lead + a date range, newest first).
        Made the first time such a filter comes; none when one field's index will do.

        One field's index finds the lead's opportunities, but at 100,000 stored a lead has a hundred,
        and each was read and its JSON parsed to test the status and the date (SQLite's json_extract
        parses the whole record on every call): the page cost 2.5 times what it cost at 1,000."""
        equal = sorted({n for n, op, v in where if op == "eq" and isinstance(n, str) and isinstance(v, str | int | float)})
        ranged = [n for n, op, _ in where if op in ("gt", "gte", "lt", "lte") and isinstance(n, str)]
        tail = ranged[0] if ranged else order_by[0][0] if order_by else None
        fields = (*equal, tail) if tail is not None and tail not in equal else tuple(equal)
        if len(fields) > 1:
            self._index_for(fields)

    def _index_for(self, fields: tuple[str, ...]) -> bool:
        # The specs bound which fields a filter can name; MAX_INDEXES bounds it again (past it,
        # filters still work, unindexed).
        if fields in self._indexed:
            return True
        if len(self._indexed) >= MAX_INDEXES:
            return False
        self._indexed.add(fields)  # asked for: a store that makes it in the background is not asked twice
        try:
            self._make_index(fields, index_digest(fields))
        except BaseException:
            self._indexed.discard(fields)
            raise
        return True

    def _make_index(self, fields: tuple[str, ...], digest: str) -> None:
        """Make the index before the query that asked for it runs. SQLite has no way to build one
        without holding the write lock, so the asking request may as well wait for it."""
        with self.transaction():
            self._create_index(fields, digest)
            self.analyze()  # so the planner knows which of two indexed filters is the selective one

    @abc.abstractmethod
    def _create_index(self, fields: tuple[str, ...], digest: str) -> None:
        """CREATE INDEX IF NOT EXISTS ..._eq_<digest> on (collection, *fields), in the expressions `_where` uses."""

    def append_log(self, log, entry, keep):
        if self._logs is None:
            self._logs = LogBuffer(self._write_logs)
        self._logs.add(log, jsonio.dumps(entry).decode(), keep)

    def settle_logs(self):
        if self._logs is not None:
            self._logs.settle()
        else:
            time.sleep(SETTLE)  # this process queued nothing; others may have

    def read_log(self, log, limit):
        self.settle_logs()
        return self._read_logs(log, limit)

    def query(self, collection, query: Query):
        rows, total = self._select(collection, query)
        return [jsonio.loads(text) for text in rows], total

    def page(self, collection, query: Query):
        rows, total = self._select(collection, query)  # stored text goes out as is
        return [jsonio.raw_fragment(text) for text in rows], total

def searchable_text(value) -> str | None:
    """A field's text for `contains`, as the SQL stores read it: a string as is, any other value as
    JSON writes it (0, true), and none for a missing or null field."""
    if value is None or isinstance(value, str):
        return value
    return jsonio.dumps(value).decode()


def matches(record: dict, where) -> bool:
    for name, op, value in where:
        if op == "contains":
            names = name if isinstance(name, tuple) else (name,)
            if not any(value in text.lower() for n in names if (text := searchable_text(record.get(n))) is not None):
                return False
            continue
        have = record.get(name)
        if op == "eq":
            if have != value:
                return False
        elif op == "in":
            if have not in value:
                return False
        elif have is None:
            return False
        elif op == "gt" and not have > value:
            return False
        elif op == "gte" and not have >= value:
            return False
        elif op == "lt" and not have < value:
            return False
        elif op == "lte" and not have <= value:
            return False
    return True
