"""Indexes make filtered pages cost what they find (issue 15); they must never change what is found."""
from __future__ import annotations

import contextlib
import sqlite3
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mock_server.store import MemoryStore, Query, SqliteStore

VALUES = st.one_of(st.sampled_from(["a", "b", "c"]), st.integers(0, 2), st.none(), st.just(["a"]))
RECORDS = st.fixed_dictionaries({"id": st.integers(0, 9)}, optional={"lead": VALUES, "status": VALUES,
                                                                     "when": st.integers(0, 5)})
WRITES = st.lists(st.tuples(st.sampled_from(["insert", "replace", "delete", "fail"]), st.integers(0, 9), RECORDS),
                  max_size=60)
WHERE = st.lists(st.tuples(st.sampled_from(["lead", "status"]), st.just("eq"), VALUES), min_size=1, max_size=2)
ORDER = st.lists(st.tuples(st.sampled_from(["when", "lead"]), st.booleans()), max_size=1)


class Boom(Exception):
    pass


def apply(store: MemoryStore, writes) -> None:
    for op, key, record in writes:
        if op == "fail":  # a transaction that writes and then fails: undone, indexes too
            with contextlib.suppress(Boom), store.transaction():
                store.insert("c", key, record)
                store.delete("c", (key + 1) % 10)
                raise Boom
        elif op == "insert":
            store.insert("c", key, record)
        elif op == "replace":
            store.replace("c", key, record)
        else:
            store.delete("c", key)


@settings(max_examples=300, deadline=None)
@given(WRITES, WRITES, WHERE, ORDER)
def test_an_indexed_query_finds_what_a_scan_finds(before, after, where, order):
    """Same writes into two stores, one indexing from the first row and one never: every filtered
    page is equal, in the same order, with the index made before the later writes and kept by them."""
    indexed, scanned = MemoryStore(), MemoryStore()
    indexed._indexes.min_rows, scanned._indexes.min_rows = 0, float("inf")
    apply(indexed, before)
    apply(scanned, before)
    query = Query(where, order, 0, None)
    assert indexed.query("c", query) == scanned.query("c", query)  # the index is made here...
    apply(indexed, after)  # ...and kept up to date by these
    apply(scanned, after)
    assert indexed.query("c", query) == scanned.query("c", query)
    assert indexed.query("c", Query(where, order, 1, 2)) == scanned.query("c", Query(where, order, 1, 2))
    assert indexed._indexes._by.get("c") or not any(isinstance(v, str | int | None) for _, _, v in where)


def test_sqlite_answers_a_filtered_page_from_an_index(tmp_path):
    """The lead filter reaches SQLite's planner as an indexed search, not a scan of the collection."""
    store = SqliteStore(str(tmp_path / "s.db"))
    for n in range(50):
        store.insert("c", n, {"id": n, "lead": f"lead_{n % 10}", "status": n % 3})
    rows, total = store.query("c", Query([("lead", "eq", "lead_3"), ("status", "eq", 0)], [("id", True)], 0, 10))
    assert [r["id"] for r in rows] == [33, 3] and total == 2
    where, args = store._where("c", [("lead", "eq", "lead_3")])
    plan = " ".join(str(r) for r in sqlite3.connect(tmp_path / "s.db").execute(
        f"EXPLAIN QUERY PLAN SELECT data FROM records WHERE {where}", args))  # noqa: S608
    assert "USING INDEX records_eq_" in plan, plan


def test_sqlite_answers_a_filter_on_several_fields_from_one_index(tmp_path):
    """Status + lead + a date range, newest first (Close's filtered list): one index over the three
    fields finds the page, so no record of the lead is parsed to test its status or date."""
    store = SqliteStore(str(tmp_path / "s.db"))
    for n in range(50):
        store.insert("c", n, {"id": n, "lead": f"lead_{n % 10}", "status": n % 3, "when": n})
    where = [("status", "eq", 0), ("lead", "eq", "lead_3"), ("when", "gte", 10), ("when", "lt", 40)]
    rows, total = store.query("c", Query(where, [("when", True)], 0, 10))
    assert [r["id"] for r in rows] == [33] and total == 1
    sql, args = store._where("c", where)
    plan = " ".join(str(r) for r in sqlite3.connect(tmp_path / "s.db").execute(
        f"EXPLAIN QUERY PLAN SELECT data FROM records WHERE {sql}", args))  # noqa: S608
    assert "<expr>=? AND <expr>=? AND <expr>>? AND <expr><?" in plan, plan


SCALARS = st.one_of(st.sampled_from(["a", "b"]), st.integers(0, 1), st.none())
ROWS = st.fixed_dictionaries({"id": st.integers(0, 9)}, optional={"lead": SCALARS, "status": SCALARS,
                                                                  "when": st.integers(0, 5)})
EQUAL = st.lists(st.tuples(st.sampled_from(["lead", "status"]), st.just("eq"), SCALARS), max_size=2)
RANGED = st.lists(st.tuples(st.just("when"), st.sampled_from(["gt", "gte", "lt", "lte"]), st.integers(0, 5)),
                  max_size=2)


@pytest.fixture(scope="module")
def three_stores(tmp_path_factory, postgres_url):
    from mock_server.store.postgresql import PostgresStore

    yield MemoryStore(), SqliteStore(str(tmp_path_factory.mktemp("shapes") / "s.db")), PostgresStore(postgres_url)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 9), ROWS), max_size=25), EQUAL, RANGED,
       st.lists(st.tuples(st.just("when"), st.booleans()), max_size=1), st.integers(0, 3))
def test_every_store_finds_the_same_page_whatever_indexes_a_filter_makes(three_stores, writes, equal, ranged,
                                                                          order, offset):
    """The indexes SQLite and PostgreSQL make for a filter (one field's, or one over its equality
    fields and its range or order) never change what is found, its total or its order: memory's
    scan is the reference."""
    collection = f"shapes/{uuid.uuid4().hex}"
    for store in three_stores:
        for key, record in writes:
            store.insert(collection, key, record) if store.get(collection, key) is None \
                else store.replace(collection, key, record)
    pages = [store.query(collection, Query(equal + ranged, order, offset, 3)) for store in three_stores]
    assert pages[1] == pages[0] and pages[2] == pages[0]


TEXTISH = st.one_of(st.sampled_from(["Ab", "ba", "", "0a"]), st.integers(0, 12), st.booleans(), st.none())
TEXT_ROWS = st.fixed_dictionaries({"id": st.integers(0, 9)}, optional={"note": TEXTISH, "name": TEXTISH})
TERMS = st.sampled_from(["", "a", "b", "0", "1", "12", "tru", "fals", "null", "none"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 9), TEXT_ROWS), max_size=12),
       st.lists(st.tuples(st.sampled_from(["note", ("note", "name")]), st.just("contains"), TERMS),
                min_size=1, max_size=2))
def test_every_store_finds_the_same_records_for_a_text_search(three_stores, writes, where):
    """Close's `query=` (`value:0`, `custom.flag:true`, a bare word over several fields) finds a term
    in a field's text: a string as is, a number or a boolean as JSON writes it, and nothing in a
    missing or null field, on every store. (Memory skipped 0 and matched null fields to an empty
    term; SQLite read true as 1.)"""
    collection = f"search/{uuid.uuid4().hex}"
    for store in three_stores:
        for key, record in writes:
            store.insert(collection, key, record) if store.get(collection, key) is None \
                else store.replace(collection, key, record)
    found = [sorted(r["id"] for r in store.query(collection, Query(where))[0]) for store in three_stores]
    assert found[1] == found[0] and found[2] == found[0], (where, found)
