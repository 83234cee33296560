"""Making and dropping large worlds without holding other requests up: the cyclic collector stays
off while a world is built (and always comes back on), and a dropped world is freed in the
background, in slices, never touching what the store holds now."""
from __future__ import annotations

import gc
import time

import pytest

from mock_server.store import MemoryStore
from mock_server.store.base import SeededWorld
from mock_server.store.scratch import collector_paused


def test_the_collector_is_off_while_worlds_are_built_and_back_on_after_even_when_one_fails():
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        assert not gc.isenabled()
        with collector_paused():  # a second namespace reset at the same time
            assert not gc.isenabled()
        assert not gc.isenabled(), "the build that ended first turned the collector back on under the other"
        raise RuntimeError("a world file refused mid-build")
    assert gc.isenabled()


def wait_until_empty(rows: dict) -> None:
    deadline = time.monotonic() + 30
    while rows and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not rows, f"{len(rows)} records of the dropped world were never freed"


def test_a_large_dropped_world_is_freed_in_the_background_and_the_store_keeps_what_came_after():
    store = MemoryStore()
    store.load(SeededWorld({"ns/c": {n: {"id": n} for n in range(25_000)}, "ns/small": {1: {"id": 1}}}, {}))
    dropped = store._data["ns/c"]
    store.drop("ns/")
    store.insert("ns/c", 1, {"id": 1, "new": True})  # a write under the same name, at once
    wait_until_empty(dropped)
    assert store.all("ns/c") == [{"id": 1, "new": True}] and store.all("ns/small") == []

    store.load(SeededWorld({"ns/c": {n: {"id": n} for n in range(25_000)}}, {}))
    replaced = store._data["ns/c"]
    store.load(SeededWorld({"ns/c": {7: {"id": 7}}}, {}))  # a restore over it
    wait_until_empty(replaced)
    assert store.all("ns/c") == [{"id": 7}]
