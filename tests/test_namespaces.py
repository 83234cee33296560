"""Namespaces: parallel CI jobs on one server, each with its own world, none able to see another's."""
from __future__ import annotations

import uuid

import pytest
import requests
from closeio_api import API
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mock_server import Client, create_app, state_of
from mock_server.serve.namespaces import Namespaces
from mock_server.store import MemoryStore
from mock_server.store.namespaced import DEFAULT, NamespacedStore, inside
from tests.conftest import ADMIN_KEY, CLOSE_AUTH, served

OPPORTUNITIES = "/close/api/v1/opportunity/"
SEEDED = 4  # --seed-data 3, and the opportunity of seed 003's example that every Close world holds


def fresh() -> str:
    return "job-" + uuid.uuid4().hex[:12]  # the PostgreSQL database outlives one test: never reuse a name


@pytest.fixture
def server(store_url):
    with served(create_app(store=store_url, seed_data=3, admin_key=ADMIN_KEY)) as url:
        yield url


def call(url, method, path, namespace=None, **kwargs):
    headers = {**CLOSE_AUTH, **({"X-Crm-Mock-Namespace": namespace} if namespace else {})}
    return requests.request(method, url + path, headers=headers, timeout=30, **kwargs)


def test_one_namespace_can_neither_read_nor_change_anothers_data(server):
    a, b = fresh(), fresh()
    made = call(server, "POST", OPPORTUNITIES, a, json={"value": 111, "note": "a's"}).json()
    assert call(server, "GET", f"{OPPORTUNITIES}{made['id']}/", a).json()["value"] == 111

    # b: its own world, seeded on first use, without a's opportunity
    listed_b = call(server, "GET", OPPORTUNITIES, b, params={"_limit": 100}).json()
    assert made["id"] not in [o["id"] for o in listed_b["data"]] and listed_b["total_results"] == SEEDED
    # Same seed, same world: b's first creation mints the id a's did, so look a's record up by
    # content: b cannot change it, and deleting b's own leaves a's in place.
    mine = call(server, "POST", OPPORTUNITIES, b, json={"value": 222}).json()
    call(server, "PUT", f"{OPPORTUNITIES}{mine['id']}/", b, json={"value": 333})
    call(server, "DELETE", f"{OPPORTUNITIES}{mine['id']}/", b)
    again = call(server, "GET", f"{OPPORTUNITIES}{made['id']}/", a).json()
    assert (again["value"], again["note"]) == (111, "a's")
    # the default namespace (no header) saw none of it
    default = call(server, "GET", OPPORTUNITIES, params={"_limit": 100}).json()
    assert default["total_results"] == SEEDED and 111 not in [o["value"] for o in default["data"]]


def test_a_new_namespace_starts_from_the_same_seeded_world(server):
    a = fresh()
    seeded = call(server, "GET", OPPORTUNITIES, params={"_limit": 100}).json()["data"]
    assert call(server, "GET", OPPORTUNITIES, a, params={"_limit": 100}).json()["data"] == seeded


def test_journal_overrides_and_reset_are_per_namespace(server):
    a, b = fresh(), fresh()
    mock_a = Client(server, ADMIN_KEY, namespace=a)
    mock_b = mock_a.in_namespace(b)
    mock_a.fail_next("createOpportunity", error="rate_limited")
    assert call(server, "POST", OPPORTUNITIES, b, json={"value": 1}).status_code == 200  # a's override is a's
    assert call(server, "POST", OPPORTUNITIES, a, json={"value": 1}).status_code == 429
    assert [e["status"] for e in mock_a.requests()] == [429]
    assert [e["status"] for e in mock_b.requests()] == [200]
    mock_b.verify(operation="createOpportunity", count=1)
    assert mock_a.overrides() and not mock_b.overrides()

    mock_a.reset()  # a only
    assert mock_a.requests() == [] and mock_a.overrides() == []
    assert len(mock_b.requests()) == 1
    assert call(server, "GET", OPPORTUNITIES, b).json()["total_results"] == SEEDED + 1


def test_namespaces_are_listed_with_their_sizes_and_can_be_dropped(server):
    a = fresh()
    call(server, "POST", OPPORTUNITIES, a, json={"value": 5})
    mock = Client(server, ADMIN_KEY)
    listed = {n["name"]: n for n in mock.namespaces()}
    assert {DEFAULT, a} <= set(listed)
    assert listed[a]["collections"]["close.opportunities"] == SEEDED + 1
    assert listed[a]["records"] == sum(listed[a]["collections"].values())
    assert listed[a]["expires"] > listed[a]["last_used"] and listed[DEFAULT]["expires"] is None
    mock.drop_namespace(a)
    assert a not in {n["name"] for n in mock.namespaces()}
    # used again, it is seeded afresh
    assert call(server, "GET", OPPORTUNITIES, a).json()["total_results"] == SEEDED


def test_a_namespace_in_the_base_url_works_with_the_vendors_own_client(server):
    a = fresh()
    mock = Client(server, ADMIN_KEY, namespace=a)
    assert f"/__ns/{a}/close/api/v1" in mock.url("close")
    api = API(mock.url("close") + "/", api_key="any-key")
    made = api.post("opportunity", data={"value": 77})
    assert api.get(f"opportunity/{made['id']}")["value"] == 77
    mock.verify(operation="createOpportunity", body={"value": 77}, count=1)
    assert call(server, "GET", OPPORTUNITIES).json()["total_results"] == SEEDED  # not in the default namespace


@pytest.mark.parametrize("bad", ["", "-leading-dash", "_mock", "a/b", "x" * 65, "sp ace", "dot..ok/no"])
def test_a_bad_namespace_name_is_the_vendors_400_naming_the_header(bad, store_url):
    app = create_app(store=store_url, admin_key=ADMIN_KEY)
    client = app.test_client()
    before = client.get("/__mock/namespaces", headers={"X-Crm-Mock-Admin-Key": ADMIN_KEY}).get_json()
    answer = client.post(OPPORTUNITIES, json={"value": 1}, headers={**CLOSE_AUTH, "X-Crm-Mock-Namespace": bad})
    assert answer.status_code == 400
    assert answer.get_json()["field-errors"]["X-Crm-Mock-Namespace"].endswith(  # Close's shape for a bad field
        "is not a namespace name: 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    control = client.get("/__mock/requests", query_string={"namespace": bad},
                         headers={"X-Crm-Mock-Admin-Key": ADMIN_KEY})
    assert control.status_code == 400 and "namespace" in control.get_json()["error"]
    after = client.get("/__mock/namespaces", headers={"X-Crm-Mock-Admin-Key": ADMIN_KEY}).get_json()
    assert after == before  # nothing made for a refused name


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=80))
def test_any_namespace_header_is_served_or_refused_never_a_500(name):
    client = MEMORY_APP.test_client()
    answer = client.get("/close/api/v1/status/opportunity/", headers={**CLOSE_AUTH, "X-Crm-Mock-Namespace": name})
    assert answer.status_code in (200, 400), answer.get_data(as_text=True)


MEMORY_APP = create_app(namespace_ttl=None)


def test_idle_namespaces_are_dropped_after_the_ttl_but_never_the_default():
    now = [1000.0]
    raw = MemoryStore()
    store = NamespacedStore(raw)

    def build(count):
        scratch = NamespacedStore(MemoryStore())
        scratch.insert("things", 1, {"id": 1})
        return scratch.inner.dump()

    namespaces = Namespaces(raw, build, ttl=3600, clock=lambda: now[0])
    namespaces.reset(DEFAULT, None)
    namespaces.enter("busy")
    namespaces.enter("idle")
    now[0] += 3000
    namespaces.enter("busy")
    now[0] += 1000  # idle: 4000 s without a request; busy: 1000 s
    assert namespaces.sweep() == ["idle"]
    assert [n["name"] for n in namespaces.listed()] == [DEFAULT, "busy"]
    with inside("idle"):
        assert store.all("things") == []  # its records went with it
    with inside("busy"):
        assert store.all("things") == [{"id": 1}]


def test_a_version_1_sqlite_file_becomes_the_default_namespace(tmp_path):
    import sqlite3

    from mock_server.store import SqliteStore

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # the layout before namespaces
        db.executescript("""CREATE TABLE records (seq INTEGER PRIMARY KEY, collection TEXT NOT NULL, key TEXT NOT NULL,
                                                  data TEXT NOT NULL);
            CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
            INSERT INTO records (collection, key, data) VALUES ('close.opportunities', 's:oppo_1', '{"id": "oppo_1"}');
            INSERT INTO counters VALUES ('id:oppo', 41);""")
    store = NamespacedStore(SqliteStore(str(path)))
    assert store.get("close.opportunities", "oppo_1") == {"id": "oppo_1"}
    assert store.next_value("id:oppo") == 42
    reopened = NamespacedStore(SqliteStore(str(path)))  # migrated once, not twice
    assert reopened.get("close.opportunities", "oppo_1") == {"id": "oppo_1"}


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_journal_entries_reach_a_shared_store_in_batches_and_an_idle_process_still_writes_them(kind, tmp_path, request):
    import time

    from mock_server.store import SqliteStore
    from mock_server.store.postgresql import PostgresStore

    def make():
        return PostgresStore(request.getfixturevalue("postgres_url")) if kind == "postgresql" \
            else SqliteStore(str(tmp_path / "shared.db"))

    store, other_process = make(), make()  # two workers' views of one store
    log = f"batches-{kind}/journal"
    store.drop(f"batches-{kind}/")
    for n in range(5):
        store.append_log(log, {"n": n}, keep=3)
    assert other_process._read_logs(log, 10) == []  # queued, not yet written: one batch later
    time.sleep(0.1)  # no further request: the idle writer writes the queue
    # written; the store keeps the newest `keep` (PostgreSQL: whole batches that hold them)
    assert [e["n"] for e in other_process._read_logs(log, 3)] == [2, 3, 4]
    store.append_log(log, {"n": 5}, keep=3)
    assert [e["n"] for e in other_process.read_log(log, 3)] == [3, 4, 5]  # a read settles, newest `keep`
    assert [e["n"] for e in other_process.read_log(log, 2)] == [4, 5]


def test_an_idle_namespace_expires_over_http_and_reset_by_query_parameter_touches_one(store_url):
    app = create_app(store=store_url, admin_key=ADMIN_KEY)
    namespaces = state_of(app).namespaces
    now = [10_000.0]
    namespaces.clock, namespaces._swept = (lambda: now[0]), now[0]  # time, as the registry sees it
    idle, busy = fresh(), fresh()
    with served(app) as url:
        admin = {"X-Crm-Mock-Admin-Key": ADMIN_KEY}
        for name in (idle, busy):
            call(url, "POST", OPPORTUNITIES, name, json={"value": 9})
        requests.post(f"{url}/__mock/reset", params={"namespace": busy}, headers=admin, timeout=30).raise_for_status()
        assert call(url, "GET", OPPORTUNITIES, busy).json()["total_results"] == 1  # reset: back to its seed
        assert call(url, "GET", OPPORTUNITIES, idle).json()["total_results"] == 2  # the other one untouched
        now[0] += 3000
        call(url, "GET", OPPORTUNITIES, busy)
        now[0] += 1000  # idle: 4000 s without a request, past the 3600 s TTL; busy: 1000 s
        call(url, "GET", OPPORTUNITIES, busy)  # a request some time later sweeps
        listed = requests.get(f"{url}/__mock/namespaces", headers=admin, timeout=10).json()
        names = {n["name"] for n in listed["namespaces"]}
        assert busy in names and idle not in names and listed["ttl"] == 3600
        assert call(url, "GET", OPPORTUNITIES, idle).json()["total_results"] == 1  # used again: seeded afresh


def test_an_idle_namespace_goes_with_default_traffic_alone_and_is_never_revived_by_its_own_late_request(
        store_url):
    """The sweep rode only on requests naming some other namespace: with only default-namespace
    traffic an idle namespace stayed. And a namespace's own request after its TTL, before any
    sweep, kept its old data; now it finds a fresh world, as it would after a sweep."""
    app = create_app(store=store_url, admin_key=ADMIN_KEY)
    namespaces = state_of(app).namespaces
    now = [50_000.0]
    namespaces.clock, namespaces._swept = (lambda: now[0]), now[0]
    swept, revived = fresh(), fresh()
    with served(app) as url:
        admin = {"X-Crm-Mock-Admin-Key": ADMIN_KEY}
        for name in (swept, revived):
            assert call(url, "POST", OPPORTUNITIES, name, json={"value": 9}).status_code == 200
        now[0] += 4000  # both idle past the 3600 s TTL
        namespaces._swept = now[0]  # no sweep has run yet: the late request meets its expired row
        assert call(url, "GET", OPPORTUNITIES, revived).json()["total_results"] == 1  # a fresh world
        now[0] += 60  # a sweep is due; only the default namespace is used
        assert call(url, "GET", OPPORTUNITIES).status_code == 200
        names = {n["name"] for n in requests.get(f"{url}/__mock/namespaces", headers=admin, timeout=10).json()["namespaces"]}
        assert swept not in names and revived in names
