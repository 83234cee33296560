"""A store in PostgreSQL, so workers on many hosts share one mock (`--store postgresql://...`).

Records are JSONB rows; filters, ordering, pages and totals run in SQL. Read-modify-write
transactions take one transaction-scoped advisory lock first: writers queue as they do on SQLite
(BEGIN IMMEDIATE), so no update is lost and no side effect is half-applied, at the cost of one writer
at a time per database (reads never wait). Row locks would let unrelated writes overlap; the bench
says the queue is not the bottleneck (without the lock, creates were 7% faster: round trips are).
Counters and clocks change only inside those transactions, so each transaction reads its namespace's
counters once and writes them back once, and they stay unique across every process on every host.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import contextmanager

from mock_server import jsonio
from mock_server.store.base import (
    CLOCK,
    Query,
    SeededWorld,
    SqlStore,
    Stale,
    StoreUnavailable,
    prefix_end,
    sql_key,
)
from mock_server.store.urls import shown_url
from mock_server.threads import in_the_background

log = logging.getLogger("crm_mock")

# 2: names carry their namespace ("default/close.opportunities"); the journal and rate-limit windows.
# 3: a journal row holds a batch of entries (a JSON array) and their number.
# 4: no GIN index over every record: its pending list, merged into the index by whichever insert
#    found it full (every few seconds of creates), held the write lock tens of milliseconds and set the
#    p99 of every write (bench, two workers: create p99 47-69 ms with it, 25-29 ms without, at the
#    same throughput). Equality filters use the b-tree indexes made on demand (see _where).
# 5: each record's JSON kept as written too (`body`), and reads return it: PostgreSQL turning JSONB
#    back into text was ~10 µs a record, most of a list page's cost (100 records: 1.7 ms against 0.7).
#    JSONB stays for filters, ordering and indexes. Both compressed with lz4 where the server has it
#    (PostgreSQL 14+): a row is then past the 2 KB at which PostgreSQL compresses, and uncompressed
#    (twice the WAL) a start with 100,000 opportunities and two workers took 27 s, with lz4 12-17 s.
SCHEMA_VERSION = 5
SCHEMA = """
CREATE TABLE IF NOT EXISTS crm_mock_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS crm_mock_records (
    seq BIGSERIAL PRIMARY KEY, collection TEXT NOT NULL, key TEXT NOT NULL, data JSONB{compression} NOT NULL,
    body TEXT{compression} NOT NULL, UNIQUE (collection, key));
-- A page in insertion order (every unfiltered list) reads its rows from here. Without it the planner
-- walked the primary key from the first row, past every earlier collection (100,000 leads and
-- contacts before the opportunities: 330 pages a second at 100,000, 1,100 at 1,000).
CREATE INDEX IF NOT EXISTS crm_mock_records_order ON crm_mock_records (collection, seq);
CREATE TABLE IF NOT EXISTS crm_mock_counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
-- Journal entries are only ever read back whole: TEXT, so an append does not pay for parsing JSONB.
CREATE TABLE IF NOT EXISTS crm_mock_logs (seq BIGSERIAL PRIMARY KEY, log TEXT NOT NULL, entries INT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS crm_mock_logs_newest ON crm_mock_logs (log, seq);
CREATE TABLE IF NOT EXISTS crm_mock_windows (name TEXT PRIMARY KEY, start DOUBLE PRECISION NOT NULL,
                                             used BIGINT NOT NULL);
"""
IDLE_CHECK_S = 1.0  # a connection idle this long is checked before use (a restart may have broken it)
PRUNE_EVERY = 1000  # rate-limit hits between two sweeps of finished windows
WRITE_LOCK = 0x63726D6D  # "crmm": the advisory lock every read-modify-write takes first
INDEX_POLL_S = 0.2  # how often a build waiting for another one tries again
INDEX_LOCK = 0x63726D6D  # (INDEX_LOCK, 0): the lock an index build holds; two-key advisory locks are
# a key space of their own, never the write lock
SQL_OPERATORS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
# Rows from three arrays, in their order (seq, the insertion order, follows it).
INSERTED = ("SELECT c, k, d::jsonb, d FROM unnest(%b::text[], %b::text[], %b::text[]) WITH ORDINALITY AS t(c, k, d, n) "
            "ORDER BY n")
INSERT = "INSERT INTO crm_mock_records (collection, key, data, body)"
RECORDS_GENERATION = "__records__"  # a counter every transaction that writes records moves on (cached list totals)
GET = "SELECT body FROM crm_mock_records WHERE collection = %s AND key = %s"
GET_CHECKED = f"SELECT ({GET}), ({GET})"  # a deferred check's record, then the one asked for


class SchemaTooNew(RuntimeError):
    """The database was made by a newer crm-mock: refuse rather than guess."""


@contextmanager
def _unavailable_as_503():
    """A lost or refused connection is the store being away, not a bug: StoreUnavailable (a 503)."""
    import psycopg
    from psycopg_pool import PoolTimeout

    try:
        yield
    except (psycopg.OperationalError, PoolTimeout) as error:
        raise StoreUnavailable(f"PostgreSQL is unavailable: {type(error).__name__}") from error



def _verify(text: str | None, seen) -> None:
    """A deferred check's answer, the record's JSON (see Store.check_later): Stale if not what was seen."""
    if (None if text is None else jsonio.loads(text)) != seen:
        raise Stale


def _first(row) -> str | None:
    return None if row is None else row[0]


def _literal(name: str) -> str:
    """A field name as a SQL string literal (standard_conforming_strings: only ' is special)."""
    return "'" + name.replace("'", "''") + "'"


class PostgresStore(SqlStore):
    def __init__(self, url: str) -> None:
        self.url = url
        self._local = threading.local()  # the connection of an open transaction, per thread
        self._pool = None
        self._pool_pid = 0
        self._guard = threading.Lock()
        self._hits = 0
        self._last_used: dict[int, float] = {}  # id(connection) → when it was last given back
        self._index_builds: list = []  # a function waiting for each build this process started
        try:
            with self._connection() as db:
                self._migrate(db)
        except BaseException:
            self.close()  # a refused database leaves no pool (and no threads) behind
            raise

    def close(self) -> None:
        if self._pool is not None and self._pool_pid == os.getpid():
            self._pool.close()
        self._pool = None

    # -- connections ----------------------------------------------------------------------------------
    def _pool_here(self):
        """One pool per process, opened after a fork (a pool must never cross one)."""
        if self._pool is None or self._pool_pid != os.getpid():
            with self._guard:
                if self._pool is None or self._pool_pid != os.getpid():
                    from psycopg_pool import ConnectionPool

                    # A connection is checked (a round trip) only when taken after an idle second:
                    # checking every checkout cost half of a get-by-id. Under load, a connection broken
                    # by a database restart fails its next statement instead (that request gets the
                    # vendor's 503) and the pool replaces it.
                    # synchronous_commit off: a commit returns before its WAL reaches the disk. A
                    # database crash may lose the last few hundred milliseconds of commits but never
                    # leaves them half-applied; for a mock that trade is worth it, as SQLite's
                    # synchronous=OFF is (bench: every request commits its journal entry).
                    self._pool = ConnectionPool(self.url, min_size=1, max_size=8, open=True,
                                                kwargs={"autocommit": True, "options": "-c synchronous_commit=off"},
                                                check=self._check_if_idle, timeout=2)
                    self._pool_pid = os.getpid()
        return self._pool

    def _check_if_idle(self, db) -> None:
        from psycopg_pool import ConnectionPool

        if time.monotonic() - self._last_used.get(id(db), 0.0) > IDLE_CHECK_S:
            ConnectionPool.check_connection(db)

    @contextmanager
    def _connection(self):
        held = getattr(self._local, "db", None)
        if held is not None:  # inside transaction(): every statement joins it, and sees its inserts
            self._local.pending.write_inserts(held)
            yield held
            return
        self.end_check()  # a deferred check rides only with a get, a page or a write (see check_later)
        with _unavailable_as_503(), self._pool_here().connection() as db:
            try:
                yield db
            finally:
                self._last_used[id(db)] = time.monotonic()

    def _take_check(self):
        check = getattr(self._local, "check", None)
        self._local.check = None
        return check

    def _check_to_carry(self):
        """The deferred check a read outside a write transaction carries (inside one, BEGIN took it)."""
        return None if getattr(self._local, "db", None) is not None else self._take_check()

    def _judge(self, check) -> None:
        """A deferred check with a read of its own."""
        with self._connection() as db:
            _verify(_first(db.execute(GET, check[:2]).fetchone()), check[2])

    def check_later(self, collection, key, seen):
        self._local.check = (collection, sql_key(key), seen)
        return True

    def end_check(self, verify=True):
        check = self._take_check()
        if check is not None and verify:
            self._judge(check)

    def _migrate(self, db) -> None:
        # A database already at this version is left alone: no lock, no DDL. CREATE INDEX IF NOT EXISTS
        # takes a lock on the table even when the index is there, which a background index build
        # (CONCURRENTLY) holds for seconds while waiting for this very transaction: a deadlock, and a
        # process that could not start while another host was making an index.
        if db.execute("SELECT to_regclass('crm_mock_meta') IS NOT NULL").fetchone()[0]:
            row = db.execute("SELECT value FROM crm_mock_meta WHERE name = 'schema_version'").fetchone()
            if row is not None and int(row[0]) == SCHEMA_VERSION:
                return
        with db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            lz4 = db.execute("SELECT 'lz4' = ANY(enumvals) FROM pg_settings "
                             "WHERE name = 'default_toast_compression'").fetchone()
            compression = " COMPRESSION lz4" if lz4 and lz4[0] else ""
            db.execute(SCHEMA.format(compression=compression))
            row = db.execute("SELECT value FROM crm_mock_meta WHERE name = 'schema_version'").fetchone()
            if row is None:
                db.execute("INSERT INTO crm_mock_meta VALUES ('schema_version', %s)", (str(SCHEMA_VERSION),))
            elif int(row[0]) < SCHEMA_VERSION:
                if int(row[0]) == 1:  # version 1 had no namespaces: its records are the default namespace's
                    db.execute("UPDATE crm_mock_records SET collection = 'default/' || collection")
                    db.execute("UPDATE crm_mock_counters SET name = 'default/' || name")
                elif int(row[0]) == 2:  # version 2 kept one journal entry a row: each becomes a batch of one
                    db.execute("ALTER TABLE crm_mock_logs ADD COLUMN IF NOT EXISTS entries INT NOT NULL DEFAULT 1")
                    db.execute("UPDATE crm_mock_logs SET data = '[' || data || ']'")
                db.execute("DROP INDEX IF EXISTS crm_mock_records_data")  # versions 1-3 made it (see 4)
                if int(row[0]) < 5:
                    db.execute(f"ALTER TABLE crm_mock_records ADD COLUMN IF NOT EXISTS body TEXT{compression}")
                    if compression:
                        db.execute(f"ALTER TABLE crm_mock_records ALTER COLUMN data SET{compression}")
                    db.execute("UPDATE crm_mock_records SET body = data::text")
                    db.execute("ALTER TABLE crm_mock_records ALTER COLUMN body SET NOT NULL")
                db.execute("UPDATE crm_mock_meta SET value = %s WHERE name = 'schema_version'", (str(SCHEMA_VERSION),))
            elif int(row[0]) > SCHEMA_VERSION:
                raise SchemaTooNew(f"{shown_url(self.url)}: schema version {row[0]} is newer than this "
                                   f"crm-mock's {SCHEMA_VERSION}; upgrade crm-mock or use another database")

    @contextmanager
    def _write(self):
        """One write transaction, in pipeline mode: a statement whose result nobody reads (an insert,
        the lock, BEGIN itself) goes out with the next one that is read; counters are read once, and
        they and new records are written in one statement at COMMIT (see _Pending). A Close create
        costs three round trips and six statements, where it was 19 round trips (bench: round trips
        and psycopg's work per statement, not SQL, were most of a create's time). A transaction opened inside one
        joins it, as on SQLite: an exception leaving the inner block leaves the outer one too, and
        everything is rolled back together."""
        if getattr(self._local, "db", None) is not None:
            yield self._local.db
            return
        from psycopg.pq import TransactionStatus

        check = self._take_check()
        with _unavailable_as_503(), self._pool_here().connection() as db:
            try:
                # BEGIN and COMMIT by hand: psycopg's transaction() syncs the pipeline on the way in
                # and twice on the way out, three round trips where COMMIT needs only the last one.
                with db.pipeline():
                    db.execute("BEGIN")
                    db.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
                    # A deferred check rides with them; its answer comes with the transaction's
                    # first read (the counters, for a create), and is judged before anything commits.
                    checked = None if check is None else db.execute(GET, check[:2])
                    self._local.db, self._local.pending = db, _Pending()
                    try:
                        yield db
                        if checked is not None:
                            seen, check = check[2], None  # judged now: a Stale is not checked again
                            _verify(_first(checked.fetchone()), seen)
                        self._local.pending.write_back(db)
                    finally:
                        self._local.db = self._local.pending = None
                    db.execute("COMMIT")
            except BaseException:
                # Leaving the pipeline synced it: the transaction is open or failed, and ends here.
                if db.pgconn.transaction_status != TransactionStatus.IDLE:
                    db.execute("ROLLBACK")
                if check is not None:  # not judged (the block raised): end_check reads it afresh
                    self._local.check = check
                raise
            finally:
                self._last_used[id(db)] = time.monotonic()

    @contextmanager
    def _counters_in_sql(self):
        """For statements that read or write crm_mock_counters themselves (drop, load, dump, copy):
        what the transaction holds back is written first, and counters are read again after."""
        with self._write() as db:
            pending = self._local.pending
            pending.write_back(db)
            try:
                yield db
            finally:
                pending.forget()
                pending.records_changed = True

    def transaction(self):
        return self._write()

    # -- records --------------------------------------------------------------------------------------
    # Record writes run in a write transaction (joining the caller's) so they move the records
    # generation (cached list totals) with them.
    def insert(self, collection, key, record):
        with self._write():
            self._local.pending.insert(collection, sql_key(key), jsonio.dumps(record).decode())

    def get(self, collection, key):
        check = self._check_to_carry()
        with self._connection() as db:
            if check is None:
                row = db.execute(GET, (collection, sql_key(key))).fetchone()
            else:  # the deferred check in the same statement: one round trip, one statement
                checked, text = db.execute(GET_CHECKED, (*check[:2], collection, sql_key(key))).fetchone()
                _verify(checked, check[2])
                row = None if text is None else (text,)
        return None if row is None else jsonio.loads(row[0])

    def replace(self, collection, key, record):
        with self._write(), self._connection() as db:
            self._local.pending.records_changed = True
            text = jsonio.dumps(record).decode()
            db.execute("UPDATE crm_mock_records SET data = %s::jsonb, body = %s WHERE collection = %s AND key = %s",
                       (text, text, collection, sql_key(key)))

    def delete(self, collection, key):
        with self._write(), self._connection() as db:
            self._local.pending.records_changed = True
            # RETURNING: in a pipelined transaction, a row is read back when fetched; rowcount is not
            return db.execute("DELETE FROM crm_mock_records WHERE collection = %s AND key = %s RETURNING 1",
                              (collection, sql_key(key))).fetchone() is not None

    def _make_index(self, fields, digest):
        """In the background: the asking page is answered by a scan meanwhile, and every writer on
        every host goes on. Made in a transaction with the write lock, as before, an index on 100,000
        opportunities held that page 7 s and every write of the database with it (a plain CREATE INDEX
        also blocks writes to the table while it runs; CONCURRENTLY does not)."""
        self._index_builds.append(in_the_background(self._create_index, fields, digest))

    def _create_index(self, fields, digest):
        # B-trees, one per filter shape: a GIN index over every record (schema 3) answered containment
        # for every field but read the whole posting list of each key (a status shared by a third of
        # 10,000 opportunities cost 2 ms a query, where the lead's b-tree finds its few), and its
        # upkeep set the p99 of every write (see SCHEMA_VERSION).
        import psycopg

        name = f"crm_mock_eq_{digest}"
        columns = ", ".join(f"(data -> {_literal(n)})" for n in fields)
        try:
            # A connection of its own: CONCURRENTLY cannot run in a transaction, and takes seconds.
            # One build at a time in every process (a session lock): two CONCURRENTLY builds on one
            # table wait for each other's transactions, and PostgreSQL ends one as a deadlock. A
            # process asking for an index another is making waits, then finds it made; a build that
            # dies (its connection with it) lets the next one in.
            with psycopg.connect(self.url, autocommit=True) as db:
                # Polled, not waited for in pg_advisory_lock: a session waiting there holds a snapshot,
                # and the build holding the lock waits for every older snapshot (a deadlock again).
                while not db.execute("SELECT pg_try_advisory_lock(%s::int, 0)", (INDEX_LOCK,)).fetchone()[0]:
                    time.sleep(INDEX_POLL_S)
                valid = db.execute("SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                                   "WHERE c.relname = %s", (name,)).fetchone()
                if valid is not None and valid[0]:
                    return
                if valid is not None:  # left half-made by a build that stopped: the planner never uses it
                    db.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
                db.execute(f"CREATE INDEX CONCURRENTLY {name} ON crm_mock_records (collection, {columns})")
                db.execute("ANALYZE crm_mock_records")  # so the planner knows which index is the selective one
        except Exception as error:  # the filter still works, by a scan; the next one to need it asks again
            self._indexed.discard(fields)
            log.warning("could not make the index for %s: %s: %s", ", ".join(fields), type(error).__name__, error)

    def wait_for_indexes(self, timeout: float | None = None) -> None:
        """Until every index this process asked for is made (for tests and the bench)."""
        while self._index_builds:
            self._index_builds.pop()(timeout)

    def _where(self, collection, conditions) -> tuple[str, list]:
        clauses, args = ["collection = %s"], [collection]
        for name, op, value in conditions:
            if op == "contains":
                names = name if isinstance(name, tuple) else (name,)
                clauses.append("(" + " OR ".join("strpos(lower(data ->> %s::text), %s) > 0" for _ in names) + ")")
                for n in names:
                    args += [n, value]
                continue
            field = f"data -> {_literal(name)}"  # inline: the expression the indexes are made on
            if op == "in":
                clauses.append(f"{field} = ANY(%s::jsonb[])")
                args.append([jsonio.dumps(v).decode() for v in value])
            elif op == "eq" and value is None:  # as in memory: a missing field equals None
                clauses.append(f"({field} IS NULL OR {field} = 'null'::jsonb)")
            elif op == "eq":
                if isinstance(value, str | int | float):
                    self._equality_indexed(name)  # made the first time a filter names the field
                clauses.append(f"{field} = %s::jsonb")
                args.append(jsonio.dumps(value).decode())
            else:
                clauses.append(f"{field} {SQL_OPERATORS[op]} %s::jsonb AND {field} <> 'null'::jsonb")
                args.append(jsonio.dumps(value).decode())
        return " AND ".join(clauses), args

    def _sum_groups(self, collection, where, by, fields):
        condition, args = self._where(collection, where)
        sums = "".join(", SUM(COALESCE((data ->> %s::text)::numeric, 0))" for _ in fields)
        with self._connection() as db:
            rows = db.execute(f"SELECT data -> %s::text, COUNT(*){sums} FROM crm_mock_records "  # noqa: S608
                              f"WHERE {condition} GROUP BY 1", [by, *fields, *args]).fetchall()
        return {row[0]: {"count": row[1], **{f: int(v) for f, v in zip(fields, row[2:], strict=True)}} for row in rows}

    def _select_rows(self, collection, query: Query) -> list[str]:
        self._shape_indexed(query.where, query.order_by)
        where, args = self._where(collection, query.where)
        order, order_args = [], []
        for name, descending in query.order_by:  # missing and null last, as in memory
            order.append("(data -> %s::text IS NULL OR data -> %s::text = 'null'::jsonb), data -> %s::text "
                         + ("DESC" if descending else "ASC"))
            order_args += [name, name, name]
        ties = "seq DESC" if query.order_by and query.order_by[0][1] else "seq"  # see Query
        # A deferred check (see get) rides as a column every row repeats (evaluated once).
        check = self._check_to_carry()
        columns = "body" if check is None else f"body, ({GET})"
        sql = f"SELECT {columns} FROM crm_mock_records WHERE {where} ORDER BY {', '.join([*order, ties])}"  # noqa: S608
        page_args = [*(check[:2] if check else ()), *args, *order_args]
        if query.limit is not None or query.offset:
            sql += " LIMIT %s OFFSET %s"
            page_args += [query.limit, min(query.offset, 2**63 - 1)]
        with self._connection() as db:
            rows = db.execute(sql, page_args).fetchall()
        if check is not None:
            if rows:
                _verify(rows[0][1], check[2])
            else:  # an empty page carried no answer
                self._judge(check)
        return [r[0] for r in rows]

    def _count(self, collection, where) -> int:
        condition, args = self._where(collection, where)
        with self._connection() as db:
            return db.execute(f"SELECT COUNT(*) FROM crm_mock_records WHERE {condition}", args).fetchone()[0]  # noqa: S608

    def _records_generation(self):
        pending = getattr(self._local, "pending", None)
        if pending is not None:  # inside a write transaction
            # Its own record writes move the generation only at COMMIT: until then, compute afresh.
            return None if pending.records_changed else pending.read(self._local.db, RECORDS_GENERATION)
        with self._connection() as db:
            row = db.execute("SELECT value FROM crm_mock_counters WHERE name = %s", (RECORDS_GENERATION,)).fetchone()
        return row[0] if row else 0

    # -- counters, clock, housekeeping ----------------------------------------------------------------
    def load(self, world):
        # One executemany (psycopg pipelines it: about COPY's speed, and COPY cannot run in the
        # pipelined transaction this is called in). Written one by one instead, each ID counter's
        # row was updated 100,000 times in one transaction, and every update walked the versions before it.
        with self._counters_in_sql() as db:
            db.cursor().executemany(
                f"{INSERT} VALUES (%s, %s, %s::jsonb, %s)",
                ((collection, sql_key(key), text, text)  # a generator: streamed, not held
                 for collection, rows in world.collections.items() for key, record in rows.items()
                 for text in (jsonio.dumps(record).decode(),)))
            db.cursor().executemany(
                "INSERT INTO crm_mock_counters (name, value) VALUES (%s, %s) "
                "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value", list(world.counters.items()))

    def dump(self, prefix):
        end = prefix_end(prefix)
        with self._connection() as db:
            if getattr(self._local, "pending", None) is not None:
                self._local.pending.write_back(db)
            return SeededWorld.from_rows(
                db.execute("SELECT collection, key, body FROM crm_mock_records "
                           "WHERE collection >= %s AND collection < %s ORDER BY seq", (prefix, end)).fetchall(),
                db.execute("SELECT name, value FROM crm_mock_counters WHERE name >= %s AND name < %s",
                           (prefix, end)).fetchall())

    def copy(self, source, target):
        # In SQL: the rows never leave the database.
        cut, end = len(source) + 1, prefix_end(source)
        with self._counters_in_sql() as db:
            db.execute(f"{INSERT} SELECT %s || substr(collection, %s), "
                       "key, data, body FROM crm_mock_records WHERE collection >= %s AND collection < %s ORDER BY seq",
                       (target, cut, source, end))
            db.execute("INSERT INTO crm_mock_counters (name, value) SELECT %s || substr(name, %s), value "
                       "FROM crm_mock_counters WHERE name >= %s AND name < %s "
                       "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value", (target, cut, source, end))

    def next_value(self, counter):
        with self._write() as db:
            pending = self._local.pending
            value = pending.read(db, counter) + 1
            pending.set(counter, value)
            return value

    def _advance_clock(self, candidate_us, name=CLOCK):
        with self._write() as db:
            pending = self._local.pending
            last = pending.read(db, name)
            value = candidate_us if last == 0 else max(candidate_us, last + 1)
            pending.set(name, value)
            return value

    def clear(self):
        with self._counters_in_sql() as db:
            for table in ("crm_mock_records", "crm_mock_logs", "crm_mock_windows"):
                db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
            # The records generation only ever grows: a cache made before the clear must not match after it.
            db.execute("DELETE FROM crm_mock_counters WHERE name <> %s", (RECORDS_GENERATION,))

    def drop(self, prefix):
        end = prefix_end(prefix)
        with self._counters_in_sql() as db:  # range scans on each table's name index
            db.execute("DELETE FROM crm_mock_records WHERE collection >= %s AND collection < %s", (prefix, end))
            for table, column in (("crm_mock_counters", "name"), ("crm_mock_logs", "log"),
                                  ("crm_mock_windows", "name")):
                db.execute(f"DELETE FROM {table} WHERE {column} >= %s AND {column} < %s", (prefix, end))  # noqa: S608

    def _write_logs(self, batch, trim):
        # No write lock: appending changes nothing another request reads back and writes. One row
        # per log per batch, its entries as one JSON array: a row per entry cost PostgreSQL more than
        # the request it recorded. Binary arrays, so the JSON texts need no escaping. A trim keeps
        # whole batches: the newest that hold `keep` entries (reads never ask for more).
        grouped: dict[str, list[str]] = {}
        for name, text, _ in batch:
            grouped.setdefault(name, []).append(text)
        with self._connection() as db:
            db.execute("INSERT INTO crm_mock_logs (log, entries, data) "
                       "SELECT * FROM unnest(%b::text[], %b::int[], %b::text[])",
                       (list(grouped), [len(texts) for texts in grouped.values()],
                        ["[" + ",".join(texts) + "]" for texts in grouped.values()]))
            for name, keep in ({name: keep for name, _, keep in batch} if trim else {}).items():
                db.execute("DELETE FROM crm_mock_logs WHERE log = %s AND seq < (SELECT seq FROM (SELECT seq, "
                           "SUM(entries) OVER (ORDER BY seq DESC) AS newer FROM crm_mock_logs WHERE log = %s) t "
                           "WHERE newer >= %s ORDER BY seq DESC LIMIT 1)", (name, name, keep))

    def _read_logs(self, log, limit):
        batches, found = [], 0
        with self._connection() as db:
            for entries, data in db.execute("SELECT entries, data FROM crm_mock_logs WHERE log = %s ORDER BY seq DESC",
                                            (log,)):
                batches.append(data)
                found += entries
                if found >= limit:
                    break
        out = [entry for data in reversed(batches) for entry in jsonio.loads(data)]
        return out[-limit:] if limit else []

    def hit(self, window, now, seconds, count=1):
        # One upsert: the row lock it takes orders concurrent hits, and every assignment sees the old row.
        with self._connection() as db:
            self._hits += 1
            if self._hits % PRUNE_EVERY == 0:  # windows of credentials not seen lately
                db.execute("DELETE FROM crm_mock_windows WHERE start < %s", (now - seconds,))
            row = db.execute(
                "INSERT INTO crm_mock_windows AS w (name, start, used) VALUES (%s, %s, %s) ON CONFLICT (name) "
                "DO UPDATE SET start = CASE WHEN EXCLUDED.start - w.start >= %s THEN EXCLUDED.start ELSE w.start END, "
                "used = CASE WHEN EXCLUDED.start - w.start >= %s THEN EXCLUDED.used ELSE w.used + EXCLUDED.used END "
                "RETURNING start, used", (window, now, count, seconds, seconds)).fetchone()
        return row[0], row[1]

    def analyze(self):
        # Autovacuum analyzes too, but only after its naptime: a freshly seeded world gets stats now.
        with self._connection() as conn:
            # SKIP_LOCKED: an index being built holds the lock ANALYZE needs, and analyzes when done.
            conn.execute("ANALYZE (SKIP_LOCKED) crm_mock_records")

    def collections(self):
        with self._connection() as db:
            rows = db.execute("SELECT collection, COUNT(*) FROM crm_mock_records GROUP BY collection").fetchall()
        return {name: count for name, count in rows}


class _Pending:
    """What a write transaction holds back until it must write it: its counters and new records.

    Counters and clocks: the first one touched in a namespace reads all of that namespace's (one
    round trip, riding with BEGIN); the rest are counted here. Safe because every change to
    crm_mock_counters runs inside a write transaction, under the advisory lock: no other process
    can move a counter between the read and the write-back. New records wait until a statement of
    the transaction reads records (`write_inserts`, from _connection) or it commits; at COMMIT they
    and the counters go in one statement."""

    __slots__ = ("dirty", "inserts", "records_changed", "scopes", "values")

    def __init__(self) -> None:
        self.values: dict[str, int] = {}
        self.scopes: set[str] = set()
        self.dirty: set[str] = set()
        self.inserts: list[tuple[str, str, str]] = []  # (collection, key, JSON text), in order
        self.records_changed = False  # then write_back moves the records generation on

    def insert(self, collection: str, key: str, text: str) -> None:
        self.inserts.append((collection, key, text))
        self.records_changed = True

    def write_inserts(self, db) -> None:
        if self.inserts:
            db.execute(f"{INSERT} {INSERTED}", self._insert_args())
            self.inserts.clear()

    def _insert_args(self) -> tuple[list[str], list[str], list[str]]:
        collections, keys, texts = zip(*self.inserts, strict=True)
        return list(collections), list(keys), list(texts)

    def read(self, db, name: str) -> int:
        """The counter's value, 0 if it has none."""
        scope = name[:name.index("/") + 1] if "/" in name else name  # "ns/": every counter of the namespace
        if scope not in self.scopes:
            # The records generation comes along: a transaction that writes records moves it on.
            if scope == name:
                rows = db.execute("SELECT name, value FROM crm_mock_counters WHERE name = %s OR name = %s",
                                  (name, RECORDS_GENERATION))
            else:
                rows = db.execute("SELECT name, value FROM crm_mock_counters WHERE name >= %s AND name < %s "
                                  "OR name = %s", (scope, prefix_end(scope), RECORDS_GENERATION))
            for key, value in rows:
                self.values.setdefault(key, value)  # one set in this transaction already wins
            self.scopes.update((scope, RECORDS_GENERATION))
        return self.values.get(name, 0)

    def set(self, name: str, value: int) -> None:
        self.values[name] = value
        self.dirty.add(name)

    def write_back(self, db) -> None:
        if self.records_changed:
            self.set(RECORDS_GENERATION, self.read(db, RECORDS_GENERATION) + 1)
            self.records_changed = False
        if not self.dirty:
            self.write_inserts(db)
            return
        names = sorted(self.dirty)
        counters = ("INSERT INTO crm_mock_counters (name, value) SELECT * FROM unnest(%b::text[], %b::bigint[]) "
                    "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value")
        values = [self.values[n] for n in names]
        if self.inserts:  # one statement for both: psycopg's work per statement is most of a write's cost
            db.execute(f"WITH inserted AS ({INSERT} {INSERTED}) "
                       + counters, (*self._insert_args(), names, values))
            self.inserts.clear()
        else:
            db.execute(counters, (names, values))
        self.dirty.clear()

    def forget(self) -> None:
        """After SQL changed counters directly: read them again when next needed."""
        self.values.clear()
        self.scopes.clear()
