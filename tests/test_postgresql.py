"""PostgreSQL as the one store of several `crm-mock serve` processes: one mock, whichever port a
client reaches. (Every vendor test also runs on it, through conftest's `store_url`.)"""
from __future__ import annotations

import pytest
import requests

from mock_server.store import open_store
from mock_server.store.namespaced import NamespacedStore
from mock_server.store.postgresql import SCHEMA_VERSION, PostgresStore, SchemaTooNew
from tests.test_served_over_http import running

CLOSE = {"Authorization": "Basic YXBpX2tleTo="}


def test_a_database_from_a_newer_crm_mock_is_refused(postgres_url):
    store = open_store(postgres_url)  # the process' shared store for this database
    with store._connection() as db:
        db.execute("UPDATE crm_mock_meta SET value = %s WHERE name = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    try:
        with pytest.raises(SchemaTooNew, match="newer than this crm-mock") as refused:
            PostgresStore(postgres_url + "?password=HUNTPW")  # the local cluster trusts: ignored
        assert "HUNTPW" not in str(refused.value) and "password=***" in str(refused.value)
    finally:
        with store._connection() as db:
            db.execute("UPDATE crm_mock_meta SET value = %s WHERE name = 'schema_version'", (str(SCHEMA_VERSION),))


def older_database(postgres_url: str, name: str, script: str) -> str:
    """A fresh database `name` as an older crm-mock left it (`script`), and its URL."""
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.execute(f"CREATE DATABASE {name}")
    url = postgres_url.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(script)
    return url


def test_a_version_1_database_becomes_the_default_namespace(postgres_url):
    """Version 1 (before namespaces) kept `close.opportunities`; its records are the default namespace's."""
    old_url = older_database(postgres_url, "crm_v1", """
            CREATE TABLE crm_mock_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE crm_mock_records (seq BIGSERIAL PRIMARY KEY, collection TEXT NOT NULL, key TEXT NOT NULL,
                data JSONB NOT NULL, UNIQUE (collection, key));
            CREATE TABLE crm_mock_counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
            INSERT INTO crm_mock_meta VALUES ('schema_version', '1');
            INSERT INTO crm_mock_records (collection, key, data) VALUES ('close.opportunities', 's:oppo_1', '{"id": "oppo_1"}');
            INSERT INTO crm_mock_counters VALUES ('id:oppo', 41);""")
    store = NamespacedStore(PostgresStore(old_url))
    try:
        assert store.get("close.opportunities", "oppo_1") == {"id": "oppo_1"}
        assert store.next_value("id:oppo") == 42  # and no id minted before is minted again
    finally:
        store.inner.close()


def test_a_version_2_database_keeps_its_journal_as_batches_of_one(postgres_url):
    """Version 2 kept one journal entry a row; version 3 keeps batches. The entries stay readable."""
    old_url = older_database(postgres_url, "crm_v2", """
            CREATE TABLE crm_mock_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE crm_mock_logs (seq BIGSERIAL PRIMARY KEY, log TEXT NOT NULL, data TEXT NOT NULL);
            INSERT INTO crm_mock_meta VALUES ('schema_version', '2');
            INSERT INTO crm_mock_logs (log, data) VALUES ('default/journal', '{"time": 1, "path": "/a"}'),
                                                         ('default/journal', '{"time": 2, "path": "/b"}');""")
    store = PostgresStore(old_url)
    try:
        assert store.read_log("default/journal", 10) == [{"time": 1, "path": "/a"}, {"time": 2, "path": "/b"}]
        store.append_log("default/journal", {"time": 3, "path": "/c"}, keep=2)  # the first batch trims too
        assert [e["path"] for e in store.read_log("default/journal", 10)] == ["/b", "/c"]
        assert [e["path"] for e in store.read_log("default/journal", 1)] == ["/c"]
    finally:
        store.close()


def test_a_version_3_database_loses_its_gin_index_gains_bodies_and_keeps_its_records(postgres_url):
    """Version 3 kept a GIN index over every record; its upkeep set the p99 of every write, and
    version 4 drops it. Version 5 keeps each record's JSON as text beside the JSONB (reads return it):
    an older table gets it filled in. Filters still find the records, through the b-tree made for the field."""
    from mock_server.store.base import Query

    old_url = older_database(postgres_url, "crm_v3", """
            CREATE TABLE crm_mock_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE crm_mock_records (seq BIGSERIAL PRIMARY KEY, collection TEXT NOT NULL, key TEXT NOT NULL,
                data JSONB NOT NULL, UNIQUE (collection, key));
            CREATE TABLE crm_mock_counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
            CREATE TABLE crm_mock_logs (seq BIGSERIAL PRIMARY KEY, log TEXT NOT NULL, entries INT NOT NULL,
                data TEXT NOT NULL);
            CREATE TABLE crm_mock_windows (name TEXT PRIMARY KEY, start DOUBLE PRECISION NOT NULL, used BIGINT NOT NULL);
            CREATE INDEX crm_mock_records_data ON crm_mock_records USING GIN (data jsonb_path_ops);
            INSERT INTO crm_mock_meta VALUES ('schema_version', '3');
            INSERT INTO crm_mock_records (collection, key, data) VALUES
                ('default/close.opportunities', 's:oppo_1', '{"id": "oppo_1", "status_id": "stat_a"}'),
                ('default/close.opportunities', 's:oppo_2', '{"id": "oppo_2", "status_id": "stat_b"}');""")
    store = PostgresStore(old_url)
    try:
        with store._connection() as db:
            assert db.execute("SELECT to_regclass('crm_mock_records_data')").fetchone() == (None,)
            assert db.execute("SELECT value FROM crm_mock_meta WHERE name = 'schema_version'").fetchone() == (
                str(SCHEMA_VERSION),)
        found, total = store.query("default/close.opportunities", Query(where=[("status_id", "eq", "stat_b")]))
        assert found == [{"id": "oppo_2", "status_id": "stat_b"}] and total == 1
        assert store.get("default/close.opportunities", "oppo_1") == {"id": "oppo_1", "status_id": "stat_a"}
        store.replace("default/close.opportunities", "oppo_1", {"id": "oppo_1", "status_id": "stat_b"})
        assert store.query("default/close.opportunities", Query(where=[("status_id", "eq", "stat_b")]))[1] == 2
    finally:
        store.close()


def test_a_database_restart_is_the_vendors_503_then_service_resumes_with_nothing_lost(postgres_cluster):
    import time

    cluster = postgres_cluster
    with running("--vendor", "close", "--store", cluster.url) as url:
        requests.post(f"{url}/__mock/reset", timeout=30).raise_for_status()
        created = requests.post(f"{url}/api/v1/opportunity/", json={"value": 42}, headers=CLOSE, timeout=10).json()
        cluster.stop("fast")
        try:
            down = requests.post(f"{url}/api/v1/opportunity/", json={"value": 1}, headers=CLOSE, timeout=30)
            assert down.status_code == 503 and set(down.json()) == {"error"}  # Close's shape, not a 500
            assert down.headers.get("Retry-After") == "1"
        finally:
            cluster.start()
        deadline = time.monotonic() + 20
        while True:  # the pool replaces the broken connections: no server restart needed
            again = requests.get(f"{url}/api/v1/opportunity/{created['id']}/", headers=CLOSE, timeout=30)
            if again.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert again.status_code == 200 and again.json()["value"] == 42  # nothing stored before is lost


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_cached_totals_and_sums_follow_every_write_whichever_process_makes_it(kind, tmp_path, request):
    """List totals and sums are kept per state of the records: a write by another process, a write
    inside the reader's own open transaction, and a write that is rolled back each give the right answer."""
    from mock_server.store import Query, SqliteStore

    def make():
        return PostgresStore(request.getfixturevalue("postgres_url")) if kind == "postgresql" \
            else SqliteStore(str(tmp_path / "shared.db"))

    reader, writer = make(), make()  # two processes' stores on one database
    items, page = "cache-test/items", Query([("kind", "eq", "x")], [], 0, 2)
    reader.drop("cache-test/")
    try:
        for n in range(5):
            writer.insert(items, n, {"id": n, "kind": "x", "value": 10})
        total = lambda: reader.page(items, page)[1]  # noqa: E731
        sums = lambda: reader.group_sums(items, page.where, "kind", ("value",))  # noqa: E731
        assert (total(), sums()) == (5, {"x": {"count": 5, "value": 50}})
        writer.insert(items, 5, {"id": 5, "kind": "x", "value": 1})
        assert (total(), sums()) == (6, {"x": {"count": 6, "value": 51}})  # the other process' write
        with pytest.raises(RuntimeError), writer.transaction():
            writer.delete(items, 0)
            raise RuntimeError("refused")
        assert (total(), sums()) == (6, {"x": {"count": 6, "value": 51}})  # rolled back: nothing changed
        with reader.transaction():
            reader.delete(items, 0)
            assert (total(), sums()) == (5, {"x": {"count": 5, "value": 41}})  # its own write, not yet committed
        assert (total(), sums()) == (5, {"x": {"count": 5, "value": 41}})
        writer.drop("cache-test/")
        assert total() == 0 and sums() == {}
    finally:
        reader.drop("cache-test/")
        for store in (reader, writer):
            getattr(store, "close", lambda: None)()


def test_a_transaction_reads_its_own_held_back_writes_in_order_and_a_failed_one_leaves_nothing(postgres_url):
    """New records wait to be written until the transaction reads or commits: every read inside it
    sees them, in insertion order, and an exception leaves neither them nor the counters they moved."""
    from mock_server.store import Query

    store, items = PostgresStore(postgres_url), "held-back/items"
    store.drop("held-back/")
    try:
        with store.transaction():
            for key in ("c", "a", "b"):
                store.insert(items, key, {"id": key, "n": store.next_value("held-back/id")})
            assert store.get(items, "a") == {"id": "a", "n": 2}
            assert [r["id"] for r in store.query(items, Query())[0]] == ["c", "a", "b"]
            store.insert(items, "d", {"id": "d"})
            assert store.page(items, Query(limit=2, offset=3))[1] == 4
        with pytest.raises(RuntimeError), store.transaction():
            store.insert(items, "e", {"id": "e", "n": store.next_value("held-back/id")})
            raise RuntimeError("refused")
        assert [r["id"] for r in store.query(items, Query())[0]] == ["c", "a", "b", "d"]
        assert store.next_value("held-back/id") == 4  # the failed transaction's 4 was never written
    finally:
        store.drop("held-back/")
        store.close()


def test_an_override_set_through_one_server_steers_the_very_next_request_on_another(postgres_url):
    """Each process keeps a parsed copy of the overrides, and checks it is current with the request's
    next statement rather than a read of its own (a round trip saved per request). A change made
    through another process must still steer the very next request, whatever it does in the store
    (a get, a page, a write, nothing: the statuses are cached), and a create answered again because the
    copy was stale is stored, and journaled, once."""
    ns = {"X-Crm-Mock-Namespace": "steer-next", **CLOSE}
    with running("--vendor", "close", "--store", postgres_url) as one, \
            running("--vendor", "close", "--store", postgres_url) as two:
        requests.post(f"{one}/__mock/reset", headers=ns, timeout=60).raise_for_status()
        made = requests.post(f"{two}/api/v1/opportunity/", json={"value": 1}, headers=ns, timeout=10).json()
        calls = {  # operation → the request, to server two
            "getOpportunity": lambda: requests.get(f"{two}/api/v1/opportunity/{made['id']}/", headers=ns, timeout=10),
            "createOpportunity": lambda: requests.post(f"{two}/api/v1/opportunity/", json={"value": 2}, headers=ns,
                                                       timeout=10),
            "listOpportunities": lambda: requests.get(f"{two}/api/v1/opportunity/?_limit=5", headers=ns, timeout=10),
            "listOpportunityStatuses": lambda: requests.get(f"{two}/api/v1/status/opportunity/", headers=ns, timeout=10),
        }
        for operation, call in calls.items():
            assert call().status_code == 200  # server two's copy: no overrides
            requests.post(f"{one}/__mock/overrides", headers=ns, timeout=10, json={
                "match": {"operation": operation}, "respond": {"error": "server_error"}, "times": 1,
            }).raise_for_status()
            assert [call().status_code, call().status_code] == [503, 200], operation

        def stored() -> int:
            return len(requests.get(f"{one}/__mock/records/close.opportunities", headers=ns, timeout=10).json()["records"])

        before = stored()
        requests.post(f"{one}/__mock/overrides", headers=ns, timeout=10, json={  # moves the version only
            "match": {"operation": "deleteLead"}, "respond": {"error": "server_error"}}).raise_for_status()
        created = calls["createOpportunity"]()
        assert created.status_code == 200 and stored() == before + 1
        journal = requests.get(f"{one}/__mock/requests", headers=ns, timeout=10).json()["requests"]
        assert [e["status"] for e in journal if e["operation"] == "createOpportunity"] == [200, 200, 503, 200, 200]
        requests.post(f"{one}/__mock/reset", headers=ns, timeout=60).raise_for_status()


def test_a_list_pages_total_and_sums_follow_a_create_made_through_another_server(postgres_url):
    """A list page's total and sums are cached per state of the records, and the state's number rides
    with the page's own statement: a create through another server still shows in the very next page."""
    ns = {"X-Crm-Mock-Namespace": "list-totals", **CLOSE}
    with running("--vendor", "close", "--store", postgres_url) as one, \
            running("--vendor", "close", "--store", postgres_url) as two:
        requests.post(f"{one}/__mock/reset", headers=ns, timeout=60).raise_for_status()

        def page() -> dict:
            return requests.get(f"{two}/api/v1/opportunity/?_limit=1", headers=ns, timeout=10).json()

        before = page()
        assert page() == before  # answered from the cache the second time: the same answer
        requests.post(f"{one}/api/v1/opportunity/", json={"value": 700, "value_period": "one_time"}, headers=ns,
                      timeout=10).raise_for_status()
        after = page()
        assert after["total_results"] == before["total_results"] + 1
        assert after["total_value_one_time"] == before["total_value_one_time"] + 700
        requests.post(f"{one}/__mock/reset", headers=ns, timeout=60).raise_for_status()


def test_a_page_in_insertion_order_reads_only_its_own_rows_from_an_index(postgres_url):
    """An unfiltered page (every plain list) comes from the (collection, seq) index, not a walk of the
    primary key past every earlier collection's rows: its cost does not grow with what else is stored."""
    from mock_server.store import Query

    store = PostgresStore(postgres_url)
    store.drop("page-order/")
    try:
        with store.transaction():
            for n in range(3000):  # an earlier, bigger collection, as leads are before opportunities
                store.insert("page-order/leads", n, {"id": n})
            for n in range(300):
                store.insert("page-order/opportunities", n, {"id": n})
        store.analyze()
        assert [r["id"] for r in store.query("page-order/opportunities", Query(limit=3, offset=2))[0]] == [2, 3, 4]
        with store._connection() as db:
            plan = "\n".join(r[0] for r in db.execute(
                "EXPLAIN (ANALYZE, BUFFERS OFF) SELECT body FROM crm_mock_records WHERE collection = %s "
                "ORDER BY seq LIMIT 100", ("page-order/opportunities",)))
        assert "crm_mock_records_order" in plan and "Rows Removed by Filter" not in plan, plan
    finally:
        store.drop("page-order/")
        store.close()


def test_overrides_changing_through_one_server_during_a_write_load_on_another_give_no_5xx_and_no_double(
        postgres_url):
    """Every change to the overrides makes the other server's next requests stale and answered again:
    under a steady stream of changes, creates there still all succeed, each stored and journaled once."""
    import threading

    ns = {"X-Crm-Mock-Namespace": "steer-load", **CLOSE}
    with running("--vendor", "close", "--store", postgres_url) as one, \
            running("--vendor", "close", "--store", postgres_url) as two:
        requests.post(f"{one}/__mock/reset", headers=ns, timeout=60).raise_for_status()
        before = len(requests.get(f"{one}/__mock/records/close.opportunities", headers=ns, timeout=10).json()["records"])
        stop, statuses, made = threading.Event(), [], []

        def steer() -> None:  # an override for another operation, set and cleared: only the version moves
            while not stop.is_set():
                requests.post(f"{one}/__mock/overrides", headers=ns, timeout=10, json={
                    "match": {"operation": "deleteLead"}, "respond": {"error": "server_error"}}).raise_for_status()
                requests.delete(f"{one}/__mock/overrides", headers=ns, timeout=10).raise_for_status()

        def create(n: int) -> None:
            with requests.Session() as client:
                for i in range(40):
                    answer = client.post(f"{two}/api/v1/opportunity/", json={"value": n * 100 + i}, headers=ns,
                                         timeout=10)
                    statuses.append(answer.status_code)
                    if answer.status_code == 200:
                        made.append(answer.json()["id"])

        steering = threading.Thread(target=steer)
        steering.start()
        clients = [threading.Thread(target=create, args=(n,)) for n in range(4)]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join()
        stop.set()
        steering.join()
        assert statuses == [200] * 160
        stored = requests.get(f"{one}/__mock/records/close.opportunities", headers=ns, timeout=10).json()["records"]
        assert len(stored) == before + 160 and len(set(made)) == 160
        journal = requests.get(f"{two}/__mock/requests", headers=ns, params={"limit": 1000}, timeout=10).json()
        assert sum(e["operation"] == "createOpportunity" for e in journal["requests"]) == 160
        requests.post(f"{one}/__mock/reset", headers=ns, timeout=60).raise_for_status()


def _index_state(url: str, fields: tuple[str, ...]) -> bool | None:
    """Whether the on-demand index for `fields` is valid (None: there is none)."""
    import psycopg

    from mock_server.store.base import index_digest

    with psycopg.connect(url, autocommit=True) as db:
        row = db.execute("SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                         "WHERE c.relname = %s", (f"crm_mock_eq_{index_digest(fields)}",)).fetchone()
    return None if row is None else row[0]


def _drop_indexes(url: str, *shapes: tuple[str, ...]) -> None:
    import psycopg

    from mock_server.store.base import index_digest

    with psycopg.connect(url, autocommit=True) as db:
        for fields in shapes:
            db.execute(f"DROP INDEX IF EXISTS crm_mock_eq_{index_digest(fields)}")


def test_a_filter_needing_a_new_index_is_answered_while_another_process_writes_and_the_index_follows(
        postgres_url):
    """An index is made in the background, CONCURRENTLY, without the write lock: the page that asked
    for it is answered (by a scan) even while another process holds the write lock for a long write,
    and the index is made soon after. (Made inside a write transaction, as before, a first filtered
    page at 100,000 opportunities held every writer on every host for 7 s, and waited for them.)"""
    import time

    import psycopg

    from mock_server.store.postgresql import WRITE_LOCK

    shapes = [("user_id",), ("value_period",), ("user_id", "value_period", "date_won")]
    _drop_indexes(postgres_url, *shapes)
    ns = {"X-Crm-Mock-Namespace": "index-late", **CLOSE}
    with running("--vendor", "close", "--store", postgres_url) as base:
        requests.post(f"{base}/__mock/reset", headers=ns, timeout=60).raise_for_status()
        won = requests.get(f"{base}/api/v1/opportunity/", params={"status_type": "won", "_limit": 1},
                           headers=ns, timeout=10).json()["data"][0]
        query = {"user_id": won["user_id"], "value_period": won["value_period"], "date_won__gte": "2000-01-01"}
        with psycopg.connect(postgres_url) as writer:  # a long write transaction elsewhere
            writer.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            page = requests.get(f"{base}/api/v1/opportunity/", params=query, headers=ns, timeout=20)
            writer.rollback()
        assert page.status_code == 200, page.text
        found = page.json()["data"]
        assert won["id"] in [o["id"] for o in found]
        assert all(o["user_id"] == won["user_id"] and o["value_period"] == won["value_period"] for o in found)
        deadline = time.monotonic() + 60
        while not all(_index_state(postgres_url, fields) for fields in shapes):
            assert time.monotonic() < deadline, [_index_state(postgres_url, f) for f in shapes]
            time.sleep(0.2)
        again = requests.get(f"{base}/api/v1/opportunity/", params=query, headers=ns, timeout=10)
        assert again.json()["data"] == found  # the index finds what the scan found


def test_processes_asking_for_the_same_indexes_at_once_make_each_once_and_an_index_left_half_made_is_made_again(
        postgres_url, caplog):
    """Two processes asking for the same three indexes at once: builds take turns (two CONCURRENTLY
    builds on one table end one as a deadlock), and each is made. An index a dead build left invalid
    (the planner never uses it) is dropped and made again."""
    import psycopg

    from mock_server.store import Query
    from mock_server.store.base import index_digest

    shapes = [("probe_a",), ("probe_b",), ("probe_a", "probe_b", "probe_c")]
    _drop_indexes(postgres_url, *shapes)
    stores = [PostgresStore(postgres_url) for _ in range(2)]
    try:
        stores[0].drop("half-made/")
        with stores[0].transaction():
            for n in range(40):
                stores[0].insert("half-made/things", n, {"id": n, "probe_a": n % 2, "probe_b": "same", "probe_c": n})
        # CREATE UNIQUE ... CONCURRENTLY fails on the duplicates and leaves its index behind, invalid:
        # what a build killed half way leaves.
        with psycopg.connect(postgres_url, autocommit=True) as db, pytest.raises(psycopg.errors.UniqueViolation):
            db.execute(f"CREATE UNIQUE INDEX CONCURRENTLY crm_mock_eq_{index_digest(('probe_b',))} "
                       "ON crm_mock_records (collection, (data -> 'probe_b'))")
        assert _index_state(postgres_url, ("probe_b",)) is False
        query = Query(where=[("probe_a", "eq", 1), ("probe_b", "eq", "same")], order_by=[("probe_c", True)])
        pages = [store.query("half-made/things", query)[0] for store in stores]
        for store in stores:
            store.wait_for_indexes(60)
        assert [r["id"] for r in pages[0]] == [r["id"] for r in pages[1]] == list(range(39, 0, -2))
        assert [_index_state(postgres_url, fields) for fields in shapes] == [True, True, True]
        assert "could not make the index" not in caplog.text
    finally:
        stores[0].drop("half-made/")
        for store in stores:
            store.close()


def test_a_database_that_cannot_be_reached_at_start_is_one_line_without_its_password():
    """It was a traceback ending in 'PostgreSQL is unavailable: PoolTimeout'; now libpq's own reason."""
    import subprocess
    import sys

    from tests.test_served_over_http import free_port

    closed = free_port()  # nothing listens there
    done = subprocess.run([sys.executable, "-m", "mock_server", "serve", "--port", str(free_port()), "--store",
                           f"postgresql://crm:S3CRET@127.0.0.1:{closed}/crm"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"cannot use the store postgresql://crm:***@127.0.0.1:{closed}/crm: connection failed" in done.stderr
    assert "S3CRET" not in done.stderr


def test_a_process_starts_while_another_builds_an_index(postgres_url):
    """An index build (CONCURRENTLY) holds a lock on the records table for seconds; a process
    starting meanwhile ran CREATE INDEX IF NOT EXISTS in its migration, which waits for that lock
    while the build waits for the starting transaction: a deadlock, and a server that would not
    start. A database at this version is now left alone."""
    import threading

    import psycopg

    PostgresStore(postgres_url).close()  # the schema is there
    with psycopg.connect(postgres_url) as builder:  # what CREATE INDEX CONCURRENTLY holds
        builder.execute("LOCK TABLE crm_mock_records IN SHARE UPDATE EXCLUSIVE MODE")
        started: list[PostgresStore] = []
        thread = threading.Thread(target=lambda: started.append(PostgresStore(postgres_url)), daemon=True)
        thread.start()
        thread.join(10)
        builder.rollback()
    assert started, "the store did not start while the table was locked by an index build"
    started[0].close()
