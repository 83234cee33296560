"""A store in one SQLite file, so several gunicorn workers share state.

Filters and ordering run in SQL over `json_extract`, so a page of a large collection costs the
page, not the collection. WAL mode lets readers proceed while one writer commits.
"""
from __future__ import annotations

import os
import sqlite3
import threading
import types
from contextlib import contextmanager

from mock_server import jsonio
from mock_server.store.base import CLOCK, Query, SeededWorld, SqlStore, prefix_end, sql_key

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY, collection TEXT NOT NULL, key TEXT NOT NULL, data TEXT NOT NULL,
    origin INTEGER);  -- in a named snapshot's copy: the seq the record had where it was copied from
CREATE UNIQUE INDEX IF NOT EXISTS records_key ON records (collection, key);
CREATE INDEX IF NOT EXISTS records_order ON records (collection);  -- rowid order within a collection
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS logs (seq INTEGER PRIMARY KEY, log TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS logs_newest ON logs (log, seq);
CREATE TABLE IF NOT EXISTS windows (name TEXT PRIMARY KEY, start REAL NOT NULL, used INTEGER NOT NULL);
"""
# 2: every name carries its namespace ("default/close.opportunities"); version 1 files are moved there.
# 3: records.origin (see copy_over).
SCHEMA_VERSION = 3
PRUNE_EVERY = 1000  # rate-limit hits between two sweeps of finished windows
INT64_MAX = 2**63 - 1
RECORDS_GENERATION = "__records__"  # a counter every record write moves on (cached list totals)
BUMP_RECORDS = (f"INSERT INTO counters (name, value) VALUES ('{RECORDS_GENERATION}', 1) "
                "ON CONFLICT(name) DO UPDATE SET value = value + 1")
SQL_OPERATORS = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def _connection_scope():
    """Where a connection is kept: per thread, or once per process under gevent (where a thread-local
    is per greenlet, and a connection per request left a descriptor behind each time)."""
    try:
        from gevent import monkey
    except ImportError:
        return threading.local()
    # Sharing is safe there: one OS thread, and nothing inside a transaction yields to another greenlet.
    return types.SimpleNamespace() if monkey.is_module_patched("threading") else threading.local()



def _json_path(name: str) -> str:
    """A JSON path for `name`, safe inside a single-quoted SQL literal (names may come from a request)."""
    return ('$."' + name.replace('"', '""') + '"').replace("'", "''")


class SqliteStore(SqlStore):
    def __init__(self, path: str):
        self.path = path
        self._local = _connection_scope()
        # Writers queue on an flock before BEGIN IMMEDIATE: SQLite's own busy handler sleeps in
        # growing steps while it waits, which showed up as p99 spikes with two workers.
        import fcntl  # POSIX only, so imported here: `import mock_server` and the memory store work anywhere

        self._fcntl = fcntl
        self._lock_fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        self._thread_lock = threading.Lock()
        self._hits = 0
        self._db.executescript(SCHEMA)  # executescript manages its own transaction
        with self._write() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version < 2:
                # Version 1 had no namespaces: its records are the default namespace's.
                db.execute("UPDATE records SET collection = 'default/' || collection")
                db.execute("UPDATE counters SET name = 'default/' || name")
            if "origin" not in {row[1] for row in db.execute("PRAGMA table_info(records)")}:
                db.execute("ALTER TABLE records ADD COLUMN origin INTEGER")  # version 2 files
            # copy_over counts a snapshot's records still in place without reading them (only copies have one)
            db.execute("CREATE INDEX IF NOT EXISTS records_origin ON records (collection, origin) "
                       "WHERE origin IS NOT NULL")
            if version < SCHEMA_VERSION:
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @property
    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            # No fsync: a crashed worker loses nothing (the OS has the pages), only a machine crash
            # could; for a mock that trade halves create latency with two workers (p99 12.7 -> 5.6 ms).
            db.execute("PRAGMA synchronous=OFF")
            self._local.db = db
            self._local.depth = 0
        return db

    @contextmanager
    def _write(self):
        """BEGIN IMMEDIATE takes the write lock up front, so read-modify-write cannot interleave."""
        db = self._db
        if self._local.depth:
            self._local.depth += 1
            try:
                yield db
            finally:
                self._local.depth -= 1
            return
        with self._thread_lock:  # flock is per process: threads of one worker queue here first
            self._fcntl.flock(self._lock_fd, self._fcntl.LOCK_EX)
            try:
                db.execute("BEGIN IMMEDIATE")
                self._local.depth = 1
                try:
                    yield db
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                else:
                    db.execute("COMMIT")
                finally:
                    self._local.depth = 0
            finally:
                self._fcntl.flock(self._lock_fd, self._fcntl.LOCK_UN)

    def transaction(self):
        return self._write()

    def insert(self, collection, key, record):
        # seq is the rowid: insertion order across all collections. Text, not bytes: newer SQLite
        # reads a BLOB as JSONB in json_extract.
        with self._write() as db:
            db.execute(
                "INSERT INTO records (collection, key, data) VALUES (?, ?, ?)",
                (collection, sql_key(key), jsonio.dumps(record).decode()),
            )
            db.execute(BUMP_RECORDS)

    def get(self, collection, key):
        row = self._db.execute(
            "SELECT data FROM records WHERE collection = ? AND key = ?", (collection, sql_key(key))
        ).fetchone()
        return jsonio.loads(row[0]) if row else None

    def replace(self, collection, key, record):
        with self._write() as db:
            db.execute(
                "UPDATE records SET data = ? WHERE collection = ? AND key = ?",
                (jsonio.dumps(record).decode(), collection, sql_key(key)),
            )
            db.execute(BUMP_RECORDS)

    def delete(self, collection, key):
        with self._write() as db:
            cursor = db.execute("DELETE FROM records WHERE collection = ? AND key = ?", (collection, sql_key(key)))
            db.execute(BUMP_RECORDS)
            return cursor.rowcount > 0

    def _create_index(self, fields, digest):
        # json_extract with the path exactly as `_where` writes it: SQLite uses an expression index
        # only for the same expression (a scan of json_extract over 100,000 records took 0.5 s).
        columns = ", ".join(f"json_extract(data, '{_json_path(name)}')" for name in fields)
        self._db.execute(f"CREATE INDEX IF NOT EXISTS records_eq_{digest} ON records (collection, {columns})")

    def analyze(self):
        # Sampled (analysis_limit) so it costs milliseconds; without statistics SQLite picked the
        # status index (a third of the rows) over the lead index (a few) for a filtered page.
        with self._write() as db:
            db.execute("PRAGMA analysis_limit = 1000")
            db.execute("ANALYZE records")

    def _where(self, collection, conditions) -> tuple[str, list]:
        clauses, args = ["collection = ?"], [collection]
        for name, op, value in conditions:
            if op == "eq" and isinstance(name, str):
                self._equality_indexed(name)
            if op == "contains":
                names = name if isinstance(name, tuple) else (name,)
                # json_extract reads true as 1: a boolean's text is its JSON, as in PostgreSQL's ->>
                clauses.append("(" + " OR ".join(
                    f"instr(lower(CASE json_type(data, '{_json_path(n)}') WHEN 'true' THEN 'true' "
                    f"WHEN 'false' THEN 'false' ELSE json_extract(data, '{_json_path(n)}') END), ?) > 0"
                    for n in names) + ")")
                args += [value] * len(names)
                continue
            expr = f"json_extract(data, '{_json_path(name)}')"
            if op == "eq" and value is None:  # as in memory: a missing field equals None (json null is NULL too)
                clauses.append(f"{expr} IS NULL")
                continue
            if op == "in":
                values = list(value)
                clauses.append(f"{expr} IN ({', '.join('?' * len(values))})" if values else "0")
                args += [_sql_value(v) for v in values]
            else:
                clauses.append(f"{expr} {SQL_OPERATORS[op]} ?")
                args.append(_sql_value(value))
        return " AND ".join(clauses), args

    def _records_generation(self):
        # Every record write (any worker's) moves it on; journal and rate-limit writes do not.
        row = self._db.execute("SELECT value FROM counters WHERE name = ?", (RECORDS_GENERATION,)).fetchone()
        return row[0] if row else 0

    def _sum_groups(self, collection, where, by, fields):
        condition, args = self._where(collection, where)
        sums = "".join(f", SUM(COALESCE(json_extract(data, '{_json_path(f)}'), 0))" for f in fields)
        try:
            rows = self._db.execute(f"SELECT json_extract(data, '{_json_path(by)}'), COUNT(*){sums} FROM records "  # noqa: S608
                                    f"WHERE {condition} GROUP BY 1", args).fetchall()
        except sqlite3.OperationalError as error:  # SUM() past int64 ("integer overflow")
            if "overflow" not in str(error):
                raise
            return super()._sum_groups(collection, where, by, fields)  # in Python: exact, as in memory
        if any(isinstance(total, float) for row in rows for total in row[2:]):
            # json_extract reads an integer past int64 as a REAL: the sum would be rounded.
            return super()._sum_groups(collection, where, by, fields)
        return {row[0]: {"count": row[1], **dict(zip(fields, row[2:], strict=True))} for row in rows}

    def _select_rows(self, collection, query: Query) -> list[str]:
        self._shape_indexed(query.where, query.order_by)
        where, args = self._where(collection, query.where)
        order = [
            f"json_extract(data, '{_json_path(name)}') IS NULL, "
            f"json_extract(data, '{_json_path(name)}') {'DESC' if desc else 'ASC'}"
            for name, desc in query.order_by
        ] + ["seq DESC" if query.order_by and query.order_by[0][1] else "seq ASC"]
        sql = f"SELECT data FROM records WHERE {where} ORDER BY {', '.join(order)}"
        page_args = list(args)
        if query.limit is not None or query.offset:
            sql += " LIMIT ? OFFSET ?"
            # SQLite integers are 64-bit; a page past that (page=2**62 of 1000) is past the end anyway.
            page_args += [-1 if query.limit is None else min(query.limit, INT64_MAX), min(query.offset, INT64_MAX)]
        return [r[0] for r in self._db.execute(sql, page_args)]

    def _count(self, collection, where) -> int:
        condition, args = self._where(collection, where)
        return self._db.execute(f"SELECT COUNT(*) FROM records WHERE {condition}", args).fetchone()[0]  # noqa: S608

    def load(self, world):
        with self._write() as db:
            for collection, rows in world.collections.items():
                db.executemany("INSERT INTO records (collection, key, data) VALUES (?, ?, ?)",
                               [(collection, sql_key(k), jsonio.dumps(r).decode()) for k, r in rows.items()])
            db.executemany("INSERT INTO counters (name, value) VALUES (?, ?) "
                           "ON CONFLICT(name) DO UPDATE SET value = excluded.value", list(world.counters.items()))
            db.execute(BUMP_RECORDS)

    def dump(self, prefix):
        end, db = prefix_end(prefix), self._db
        # (collection, seq): the records_order index's own order, so no sort; order matters only within a collection
        return SeededWorld.from_rows(
            db.execute("SELECT collection, key, data FROM records WHERE collection >= ? AND collection < ? "
                       "ORDER BY collection, seq", (prefix, end)),
            db.execute("SELECT name, value FROM counters WHERE name >= ? AND name < ?", (prefix, end)))

    def copy(self, source, target):
        # In SQL: the rows never leave the database. Each copy remembers the seq it was copied from
        # (origin), so copy_over can put an unchanged world back without rewriting it.
        cut, end = len(source) + 1, prefix_end(source)
        with self._write() as db:
            db.execute("INSERT INTO records (collection, key, data, origin) SELECT ? || substr(collection, ?), key, "
                       "data, seq FROM records WHERE collection >= ? AND collection < ? ORDER BY collection, seq",
                       (target, cut, source, end))
            self._copy_counters(db, source, target)
            db.execute(BUMP_RECORDS)

    def _copy_counters(self, db, source, target):
        db.execute("INSERT INTO counters (name, value) SELECT ? || substr(name, ?), value FROM counters "
                   "WHERE name >= ? AND name < ? ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                   (target, len(source) + 1, source, prefix_end(source)))

    def copy_over(self, source, target):
        # A test suite resets to its snapshot after each test, which changed a few records of
        # thousands: only those are written. A record under `target` stays if it is exactly a
        # snapshot record (same key and JSON) at the seq it was copied from; the others go, and the
        # snapshot records missing are put back at their old seq, so the order is the snapshot's
        # (bench: 10,000 opportunities, 320 ms as drop + copy). Seqs are never reused while the
        # snapshot exists (its own rows hold higher ones), so an old seq is free or is the record's.
        # A snapshot saved by version 2 has no origins: every record goes and comes back, in order.
        # When most of the snapshot's records are no longer in place (a reset or a file restored
        # since), comparing them costs more than it saves, and it is a drop and a copy.
        cut_source, cut_target = len(source) + 1, len(target) + 1
        source_end, target_end = prefix_end(source), prefix_end(target)
        with self._write() as db:
            in_place, copied = db.execute(
                "SELECT COUNT(*) FILTER (WHERE EXISTS (SELECT 1 FROM records r WHERE r.seq = s.origin)), COUNT(*) "
                "FROM records s WHERE s.collection >= ? AND s.collection < ? AND s.origin IS NOT NULL",
                (source, source_end)).fetchone()
            if in_place * 2 < copied:  # mostly gone (a reset or a file restored since): the whole way is cheaper
                super().copy_over(source, target)
                return
            db.execute("DELETE FROM records WHERE collection >= ? AND collection < ? AND NOT EXISTS ("
                       "SELECT 1 FROM records s WHERE s.collection = ? || substr(records.collection, ?) "
                       "AND s.key = records.key AND s.origin = records.seq AND s.data = records.data)",
                       (target, target_end, source, cut_target))
            try:
                db.execute("INSERT INTO records (seq, collection, key, data) SELECT s.origin, "
                           "? || substr(s.collection, ?), s.key, s.data FROM records s WHERE s.collection >= ? "
                           "AND s.collection < ? AND NOT EXISTS (SELECT 1 FROM records r WHERE r.seq = s.origin) "
                           "ORDER BY s.seq",
                           (target, cut_source, source, source_end))
            except sqlite3.IntegrityError:  # an old seq taken after all: SQLite undid the statement alone
                super().copy_over(source, target)
                return
            self._drop_bookkeeping(db, target, target_end)
            self._copy_counters(db, source, target)
            db.execute(BUMP_RECORDS)

    def next_value(self, counter):
        with self._write() as db:
            return db.execute(
                "INSERT INTO counters (name, value) VALUES (?, 1) "
                "ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value",
                (counter,),
            ).fetchone()[0]

    def _advance_clock(self, candidate_us, name=CLOCK):
        with self._write() as db:
            return db.execute(
                "INSERT INTO counters (name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = MAX(excluded.value, value + 1) RETURNING value",
                (name, candidate_us),
            ).fetchone()[0]

    def clear(self):
        with self._write() as db:
            for table in ("records", "logs", "windows"):
                db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
            db.execute(f"DELETE FROM counters WHERE name <> '{RECORDS_GENERATION}'")  # noqa: S608
            db.execute(BUMP_RECORDS)

    def drop(self, prefix):
        end = prefix_end(prefix)
        with self._write() as db:  # range scans: each table is indexed by its name first
            db.execute("DELETE FROM records WHERE collection >= ? AND collection < ?", (prefix, end))
            self._drop_bookkeeping(db, prefix, end)
            db.execute(BUMP_RECORDS)

    @staticmethod
    def _drop_bookkeeping(db, prefix, end):
        """Counters, clocks, logs and rate windows named under `prefix` (end: prefix_end(prefix))."""
        for table, column in (("counters", "name"), ("logs", "log"), ("windows", "name")):
            db.execute(f"DELETE FROM {table} WHERE {column} >= ? AND {column} < ?", (prefix, end))  # noqa: S608

    def _write_logs(self, batch, trim):
        with self._write() as db:
            db.executemany("INSERT INTO logs (log, data) VALUES (?, ?)", [(name, text) for name, text, _ in batch])
            for name, keep in ({name: keep for name, _, keep in batch} if trim else {}).items():
                db.execute("DELETE FROM logs WHERE log = ? AND seq < (SELECT seq FROM logs WHERE log = ? "
                           "ORDER BY seq DESC LIMIT 1 OFFSET ?)", (name, name, keep - 1))

    def _read_logs(self, log, limit):
        return [jsonio.loads(r[0]) for r in self._db.execute(
            "SELECT data FROM (SELECT seq, data FROM logs WHERE log = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq",
            (log, limit))]

    def hit(self, window, now, seconds, count=1):
        # One statement: the assignments all see the old row, so a finished window restarts at 1.
        with self._write() as db:
            self._hits += 1
            if self._hits % PRUNE_EVERY == 0:  # windows of credentials not seen lately
                db.execute("DELETE FROM windows WHERE start < ?", (now - seconds,))
            return db.execute(
                "INSERT INTO windows (name, start, used) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
                "start = CASE WHEN excluded.start - start >= ? THEN excluded.start ELSE start END, "
                "used = CASE WHEN excluded.start - start >= ? THEN excluded.used ELSE used + excluded.used END "
                "RETURNING start, used", (window, now, count, seconds, seconds)).fetchone()

    def collections(self):
        rows = self._db.execute("SELECT collection, COUNT(*) FROM records GROUP BY collection")
        return dict(rows.fetchall())


def _sql_value(value):
    # json_extract yields SQLite values: booleans come back as 0/1.
    return int(value) if isinstance(value, bool) else value
