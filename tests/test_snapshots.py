"""Snapshots (issue 16): the whole world out as a file and back, byte for byte, and named snapshots a
test suite returns to in milliseconds. Every test runs on memory, SQLite and PostgreSQL."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mock_server import Client
from tests.conftest import CLOSE_AUTH, NEXUDUS_AUTH
from tests.test_served_over_http import running

CREATE = {"note": "snapshot me", "confidence": 50, "value": 1200, "value_period": "monthly"}


@pytest.fixture
def mock(make_client):
    return make_client("all", seed_data=15)


def snapshot(client, namespace: str | None = None) -> bytes:
    response = client.get("/__mock/snapshot", query_string={"namespace": namespace} if namespace else None)
    assert response.status_code == 200, response.get_json()
    assert response.mimetype == "application/json"
    return response.data


def create(client, headers=None) -> dict:
    response = client.post("/close/api/v1/opportunity/", json=CREATE, headers={**CLOSE_AUTH, **(headers or {})})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_a_restored_snapshot_is_the_same_world_byte_for_byte_and_continues_exactly(mock):
    made = create(mock)
    first = snapshot(mock)
    document = json.loads(first)
    assert {"close.opportunities", "nexudus.crmopportunityhistories", "sprinthub.opportunities"} <= set(
        document["collections"])
    assert mock.post("/__mock/reset", query_string={"seed_data": 2}).status_code == 200
    assert mock.get(f"/close/api/v1/opportunity/{made['id']}/", headers=CLOSE_AUTH).status_code == 404

    restored = mock.post("/__mock/restore", data=first, content_type="application/json")
    assert restored.status_code == 200, restored.get_json()
    assert snapshot(mock) == first
    assert mock.get(f"/close/api/v1/opportunity/{made['id']}/", headers=CLOSE_AUTH).get_json() == made
    # The counters came back too: the next create mints the ID it would have minted before.
    after_first = create(mock)["id"]
    mock.post("/__mock/restore", data=first, content_type="application/json")
    assert create(mock)["id"] == after_first != made["id"]


def test_a_named_snapshot_is_what_a_reset_returns_to(mock):
    create(mock)
    saved = mock.put("/__mock/snapshots/after-setup")
    assert saved.status_code == 200 and saved.get_json()["records"] > 0
    at_save = snapshot(mock)
    create(mock)
    mock.post("/nexudus/api/crm/crmopportunityhistories", json={"NewCrmBoardColumnId": 301}, headers=NEXUDUS_AUTH)
    assert snapshot(mock) != at_save

    back = mock.post("/__mock/reset", query_string={"to": "after-setup"})
    assert back.status_code == 200, back.get_json()
    assert snapshot(mock) == at_save
    assert [s["name"] for s in mock.get("/__mock/snapshots").get_json()["snapshots"]] == ["after-setup"]
    # twice: a reset to a snapshot leaves the snapshot itself as it was
    create(mock)
    mock.post("/__mock/reset", query_string={"to": "after-setup"})
    assert snapshot(mock) == at_save
    assert mock.delete("/__mock/snapshots/after-setup").status_code == 200
    missing = mock.post("/__mock/reset", query_string={"to": "after-setup"})
    assert missing.status_code == 404 and "PUT /__mock/snapshots/after-setup" in missing.get_json()["error"]


def test_snapshots_belong_to_their_namespace(mock):
    create(mock, {"X-Crm-Mock-Namespace": "job-a"})
    assert mock.put("/__mock/snapshots/mine", query_string={"namespace": "job-a"}).status_code == 200
    assert mock.get("/__mock/snapshots", query_string={"namespace": "job-b"}).status_code == 404  # not made yet
    assert mock.post("/__mock/reset", query_string={"namespace": "job-b", "to": "mine"}).status_code == 404
    # a file, though, restores into any namespace: job-b becomes a copy of job-a
    restored = mock.post("/__mock/restore", query_string={"namespace": "job-b"},
                         data=snapshot(mock, "job-a"), content_type="application/json")
    assert restored.status_code == 200
    assert snapshot(mock, "job-b") == snapshot(mock, "job-a") != snapshot(mock)
    assert mock.get("/__mock/snapshots", query_string={"namespace": "job-b"}).get_json()["snapshots"] == []
    assert mock.delete("/__mock/namespaces/job-a").status_code == 200  # takes its snapshots with it
    create(mock, {"X-Crm-Mock-Namespace": "job-a"})
    assert mock.get("/__mock/snapshots", query_string={"namespace": "job-a"}).get_json()["snapshots"] == []


@pytest.mark.parametrize(("body", "named"), [
    (b"{not json", "not JSON"),
    (b'{"collections": {}, "counters": {}}', '"crm_mock": "snapshot"'),
    (b'{"crm_mock": "snapshot", "format": 9, "collections": {}, "counters": {}}', "format 9"),
    (b'{"crm_mock": "snapshot", "format": 1, "collections": [], "counters": {}}', "must both be objects"),
    (b'{"crm_mock": "snapshot", "format": 1, "collections": {"a": [[1, {}], [1, {}]]}, "counters": {}}',
     "collections.a[1]: key 1 appears twice"),
    (b'{"crm_mock": "snapshot", "format": 1, "collections": {"a": [[true, {}]]}, "counters": {}}',
     "collections.a[0]"),
    (b'{"crm_mock": "snapshot", "format": 1, "collections": {"../x": []}, "counters": {}}', "'../x'"),
    (b'{"crm_mock": "snapshot", "format": 1, "collections": {}, "counters": {"id:oppo": -1}}', "counters.id:oppo"),
    (b'{"crm_mock": "snapshot", "format": 1, "collections": {}, "counters": {}, "extra": 1}', "extra"),
])
def test_a_bad_snapshot_is_refused_by_name_and_changes_nothing(mock, body, named):
    before = snapshot(mock)
    refused = mock.post("/__mock/restore", data=body, content_type="application/json")
    assert refused.status_code == 400 and named in refused.get_json()["error"], refused.get_json()
    assert snapshot(mock) == before


def restored_with(mock, change) -> tuple[bytes, object]:
    """The current world's file, changed by `change(document)`, posted to /__mock/restore."""
    before = snapshot(mock)
    document = json.loads(before)
    change(document)
    return before, mock.post("/__mock/restore", data=json.dumps(document), content_type="application/json")


def first_close_opportunity(document) -> dict:
    return document["collections"]["close.opportunities"][0][1]


@pytest.mark.parametrize(("change", "named"), [
    (lambda d: d["collections"].__setitem__("__mock.overrides", [["x", {"bad": 1}]]),
     "collections.__mock.overrides[0] ('x'): bad: unknown field"),
    (lambda d: d["collections"].__setitem__("__mock.overrides", [["x", {"id": "x", "respond": {"status": 100},
                                                                        "hits": 0, "seq": 1}]]),
     "collections.__mock.overrides[0] ('x'): respond.status: a whole number from 200 to 599"),
    (lambda d: d["collections"].__setitem__("__mock.overrides", [["x", {"id": "y", "respond": {}, "hits": 0,
                                                                        "seq": 1}]]),
     "collections.__mock.overrides[0] ('x'): id: 'y', but it is stored as 'x'"),
    (lambda d: d["collections"].__setitem__("__mock.overrides", [["x", {"id": "x", "respond": {}}]]),
     "collections.__mock.overrides[0] ('x'): seq: a whole number"),
    (lambda d: d["collections"]["close.opportunities"].append(["a", {}]),
     "('a'): its ID is None, but it is stored as 'a'"),
    (lambda d: d["collections"]["close.opportunities"].append(["a", {"id": "a"}]), "('a'): (the record): "),
    (lambda d: first_close_opportunity(d).__setitem__("value", "lots"), "value: 'lots' is not of type"),
    (lambda d: first_close_opportunity(d).__setitem__("colour", "red"),
     "colour: unknown field (not in the Opportunity schema)"),
    (lambda d: d["collections"]["nexudus.crmopportunities"][0][1].pop("Id"), "its ID is None, but it is stored as"),
])
def test_a_snapshot_that_would_break_the_namespace_is_refused_by_record_and_field(mock, change, named):
    # Each was restored with a 200, then every vendor request of the namespace (or every Close list,
    # or GET /__mock/overrides) was a 500 until a reset.
    before, refused = restored_with(mock, change)
    assert refused.status_code == 400 and named in refused.get_json()["error"], refused.get_json()
    assert snapshot(mock) == before
    assert mock.get("/close/api/v1/opportunity/", headers=CLOSE_AUTH).status_code == 200
    assert mock.get("/__mock/overrides").status_code == 200


def test_a_snapshots_overrides_are_restored_and_fire(mock):
    set_one = mock.post("/__mock/overrides", json={"match": {"operation": "createOpportunity"},
                                                   "respond": {"status": 299, "body": {}}, "times": 2})
    assert set_one.status_code == 201
    assert mock.post("/close/api/v1/opportunity/", json=CREATE, headers=CLOSE_AUTH).status_code == 299
    saved = snapshot(mock)
    mock.post("/__mock/reset")
    assert mock.post("/__mock/restore", data=saved, content_type="application/json").status_code == 200
    assert mock.post("/close/api/v1/opportunity/", json=CREATE, headers=CLOSE_AUTH).status_code == 299
    assert mock.post("/close/api/v1/opportunity/", json=CREATE, headers=CLOSE_AUTH).status_code == 200  # times: 2


def test_a_nul_in_a_snapshot_or_a_world_file_is_a_400_on_every_store(mock):
    # PostgreSQL's JSONB cannot hold NUL, so there it was a 500 while memory and SQLite kept it.
    before, refused = restored_with(mock, lambda d: first_close_opportunity(d).__setitem__("note", "a\u0000b"))
    assert refused.status_code == 400, refused.get_json()
    assert refused.get_json()["error"].startswith("snapshot: collections.close.opportunities[0].note: a NUL character")
    assert snapshot(mock) == before
    record = json.loads(before)["collections"]["close.opportunities"][0][1]
    loaded = mock.post("/__mock/load", query_string={"vendor": "close"}, content_type="application/json",
                       data=json.dumps({"opportunity": [{**record, "note": "a\u0000b"}]}))
    assert loaded.status_code == 400, loaded.get_json()
    assert loaded.get_json()["error"] == (f"request body: record 0 (opportunity {record['id']!r}): note: a NUL "
                                          "character (\\u0000), which the PostgreSQL store cannot keep")
    assert snapshot(mock) == before
    override = mock.post("/__mock/overrides", json={"match": {"body": {"note": "a\u0000b"}}, "respond": {}})
    assert override.status_code == 400 and override.get_json()["error"].startswith("match.body.note: a NUL character")


def test_a_snapshot_file_too_large_to_be_one_is_refused_unread(mock):
    refused = mock.post("/__mock/restore", data=b"{}", content_type="application/json",
                        environ_overrides={"CONTENT_LENGTH": str(1024 ** 3)})
    assert refused.status_code == 413 and "error" in refused.get_json()


@pytest.mark.parametrize("bad", ["", "-x", "a/b", "x" * 65])
def test_a_bad_snapshot_name_is_a_400(mock, bad):
    response = mock.put(f"/__mock/snapshots/{bad}")
    assert response.status_code in (400, 404, 405)  # an empty or slashed name matches no route at all
    assert mock.post("/__mock/reset", query_string={"to": bad or " "}).status_code == 400


def test_a_served_mock_snapshots_and_resets_to_a_snapshot_through_the_client():
    """Over a real socket with `mock_server.Client`, as a test suite would: set up, save, and return
    to it before each test."""
    with running("--vendor", "close", "--seed-data", "5") as url:
        client = Client(url)
        from closeio_api import API

        api = API(client.url("close") + "/", api_key="k")
        setup = api.post("opportunity", data=CREATE)
        client.save_snapshot("setup")
        saved = client.snapshot()
        for _ in range(3):  # three "tests", each starting from the setup
            api.post("opportunity", data=CREATE)
            api.delete(f"opportunity/{setup['id']}")
            assert client.reset(to="setup")["to"] == "setup"
            assert api.get(f"opportunity/{setup['id']}") == setup
        assert client.snapshot() == saved
        client.reset()
        client.restore(saved)
        assert client.snapshot() == saved and [s["name"] for s in client.snapshots()] == ["setup"]


OPS = st.lists(st.tuples(st.sampled_from(["insert", "replace", "same", "delete", "again", "other"]),
                         st.integers(0, 4), st.integers(0, 9)), max_size=12)


@settings(max_examples=80, deadline=None)
@given(before=OPS, after=OPS, saved_by_version_2=st.booleans())
def test_sqlite_resets_to_a_snapshot_by_writing_only_what_changed_and_gets_the_same_world(before, after,
                                                                                         saved_by_version_2):
    """SQLite's reset to a named snapshot rewrites only the records that differ, and puts missing
    ones back at their old place: whatever happened after the save (updates, deletes, a record
    deleted and made again, writes in another namespace), the world is the saved one, in order."""
    import tempfile

    from mock_server.store import SqliteStore

    def apply(store, ops):
        for op, key, value in ops:
            here, record = store.get("ns/c", key), {"id": key, "v": value}
            if op == "insert" and here is None:
                store.insert("ns/c", key, record)
            elif op == "replace" and here is not None:
                store.replace("ns/c", key, record)
            elif op == "same" and here is not None:
                store.replace("ns/c", key, dict(here))  # written, unchanged
            elif op == "delete" and here is not None:
                store.delete("ns/c", key)
            elif op == "again" and here is not None:  # deleted and made again, equal
                store.delete("ns/c", key)
                store.insert("ns/c", key, here)
            elif op == "other":
                store.insert("other/c", store.next_value("other/n"), record)  # takes the next seqs

    with tempfile.TemporaryDirectory() as folder:
        store = SqliteStore(f"{folder}/s.db")
        apply(store, [("insert", key, 0) for key in range(4)] + before)
        store.next_value("ns/id")
        saved = store.dump("ns/")
        with store.transaction():
            store.copy("ns/", "__snapshot:ns:s/")
        if saved_by_version_2:  # before origins were kept: reset the whole way
            store._db.execute("UPDATE records SET origin = NULL")
        apply(store, after)
        store.append_log("ns/journal", {"n": 1}, keep=5)
        store.settle_logs()  # as a reset does first
        with store.transaction():
            store.copy_over("__snapshot:ns:s/", "ns/")
        restored = store.dump("ns/")
        assert list(restored.collections.get("ns/c", {}).items()) == list(saved.collections.get("ns/c", {}).items())
        assert restored.counters == saved.counters
        assert store.read_log("ns/journal", 5) == []  # a reset empties the namespace's journal
        assert store.dump("__snapshot:ns:s/").collections.get("__snapshot:ns:s/c", {}) == saved.collections.get("ns/c", {})


def test_a_version_2_sqlite_file_keeps_its_records_and_snapshots_and_resets_to_them(tmp_path):
    """Version 2 files had no records.origin: opened by this version they gain it, and a named
    snapshot saved then still resets the whole way, in order."""
    import sqlite3

    from mock_server.store import SqliteStore

    path = str(tmp_path / "v2.db")
    with sqlite3.connect(path) as db:
        db.executescript("""
            CREATE TABLE records (seq INTEGER PRIMARY KEY, collection TEXT NOT NULL, key TEXT NOT NULL, data TEXT NOT NULL);
            CREATE UNIQUE INDEX records_key ON records (collection, key);
            CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
            INSERT INTO records (collection, key, data) VALUES ('ns/c', 'i:1', '{"v": 1}'), ('ns/c', 'i:2', '{"v": 2}'),
                ('__snapshot:ns:s/c', 'i:1', '{"v": 1}'), ('__snapshot:ns:s/c', 'i:2', '{"v": 2}');
            PRAGMA user_version = 2;""")
    store = SqliteStore(path)
    assert store._db.execute("PRAGMA user_version").fetchone()[0] == 3
    store.replace("ns/c", 1, {"v": 9})
    store.insert("ns/c", 3, {"v": 3})
    with store.transaction():
        store.copy_over("__snapshot:ns:s/", "ns/")
    assert list(store.dump("ns/").collections["ns/c"].items()) == [(1, {"v": 1}), (2, {"v": 2})]


@pytest.mark.parametrize("collection, field", [("close.pipelines", "name"), ("nexudus.coworkers", "CompanyName"),
                                               ("sprinthub.funnels", "columns"), ("close.users", "email")])
def test_a_snapshot_with_a_gutted_record_the_vendor_keeps_for_itself_is_refused(make_client, collection, field):
    """Collections no spec schema describes (pipelines, coworkers, funnels, users) went back unchecked:
    a pipeline without its name made every Close create a 500 until a reset."""
    client = make_client()
    snapshot = json.loads(client.get("/__mock/snapshot").data)
    rows = snapshot["collections"][collection]
    snapshot["collections"][collection] = [[key, {k: v for k, v in record.items() if k in ("id", "Id")}]
                                           for key, record in rows]
    before = client.get("/__mock/snapshot").data
    refused = client.post("/__mock/restore", data=json.dumps(snapshot), content_type="application/json")
    assert refused.status_code == 400 and f"{field}: missing" in refused.get_json()["error"]
    assert client.get("/__mock/snapshot").data == before
    assert client.post("/__mock/restore", data=before, content_type="application/json").status_code == 200
