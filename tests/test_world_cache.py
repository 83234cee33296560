"""Seeded worlds are made once: kept in memory for resets and on disk for the next start, and what
comes back is exactly the world the vendors' code makes (mock_server/world_cache.py)."""
from __future__ import annotations

import json
import pickle
import time

import pytest
import requests

from mock_server import world_cache
from mock_server.fixtures import generate
from mock_server.serve.worlds import build_world, world_items
from mock_server.settings import Settings
from mock_server.store.namespaced import inside
from mock_server.world_cache import WorldCache
from tests.conftest import CLOSE_AUTH
from tests.test_served_over_http import output_of, start


def same(a, b) -> bool:
    """Equal records and counters, in the same order (a world is loaded in insertion order)."""
    def order(world):
        return [(name, list(rows)) for name, rows in world.collections.items()]
    return a.collections == b.collections and a.counters == b.counters and order(a) == order(b)


@pytest.fixture
def always_to_disk(monkeypatch):
    monkeypatch.setattr(world_cache, "DISK_AFTER_S", 0.0)  # small worlds too, to keep the tests quick


def test_a_kept_world_is_the_world_made_again_in_any_namespace():
    settings, cache = Settings(vendor="all", seed=4), WorldCache(None)
    made = build_world(settings, 40, cache=cache)
    assert cache.last == "made"
    assert same(build_world(settings, 40, cache=cache), made) and cache.last == "memory"
    with inside("job-7"):  # same seed, same world, under the namespace's own names
        kept, fresh = build_world(settings, 40, cache=cache), build_world(settings, 40)
    assert cache.last == "memory" and same(kept, fresh)
    assert all(name.startswith("job-7/") for name in kept.collections)


def test_what_shapes_a_world_is_part_of_its_key():
    settings, cache = Settings(vendor="close", seed=4), WorldCache(None)
    build_world(settings, 10, cache=cache)
    for other, count in [(settings, 11), (Settings(vendor="close", seed=5), 10), (Settings(vendor="all", seed=4), 10),
                         (Settings(vendor="close", seed=4, reproducible_tokens=True), 10)]:
        assert same(build_world(other, count, cache=cache), build_world(other, count)) and cache.last == "made"


def test_a_scenario_is_set_anew_on_a_kept_world():
    """Each reset's overrides get new ids and a new version (how other workers notice them)."""
    override = {"match": {"operation": "getOpportunity"}, "respond": {"error": "server_error"}}
    settings, cache = Settings(vendor="close", scenario=(override,)), WorldCache(None)
    first, second = build_world(settings, 5, cache=cache), build_world(settings, 5, cache=cache)
    assert cache.last == "memory"
    ids = [list(world.collections["default/__mock.overrides"]) for world in (first, second)]
    assert len(ids[0]) == len(ids[1]) == 1 and ids[0] != ids[1]
    assert "default/__mock.overrides" not in build_world(Settings(vendor="close"), 5, cache=cache).collections


def test_a_world_on_disk_serves_the_next_process_and_a_damaged_file_is_made_again(tmp_path, always_to_disk):
    settings = Settings(vendor="sprinthub", seed=2)
    made = build_world(settings, 30, cache=WorldCache(tmp_path))
    (path,) = tmp_path.glob("*.world")
    whole = path.read_bytes()
    later = WorldCache(tmp_path)  # a new process: nothing in memory
    assert same(build_world(settings, 30, cache=later), made) and later.last == "disk"

    header = 4 + int.from_bytes(whole[:4], "little")
    flipped = bytearray(whole)
    flipped[len(whole) // 2] ^= 0x20  # one letter's case, deep inside a record: still valid marshal
    other_key = bytearray(whole)
    other_key[header - 40] ^= 0x01  # a byte of the key in the header: another world's file
    damages = {"cut short": whole[:-7], "a flipped byte": bytes(flipped), "another world's header": bytes(other_key),
               "garbage after a good header": whole[:header] + b"\x05\x00\x00\x00junk!",
               "an empty chunk": whole[:header] + b"\x00\x00\x00\x00", "not a world at all": b"\x07\x00\x00\x00garbage"}
    for damage, content in damages.items():
        path.write_bytes(content)
        again = WorldCache(tmp_path)
        assert same(build_world(settings, 30, cache=again), made) and again.last == "made", damage
        assert path.read_bytes() == whole, damage  # written whole again


class RunsCode:
    """What a hostile cache file could hold: unpickling it would call open() and create a file."""

    def __init__(self, path) -> None:
        self.path = path

    def __reduce__(self):
        return open, (str(self.path), "w")


def test_a_cache_file_can_hold_only_data(tmp_path, always_to_disk):
    """Worlds are pickles: one naming any class or function (here `open`) is refused, never run."""
    settings = Settings(vendor="close")
    made = build_world(settings, 5, cache=WorldCache(tmp_path))
    (path,) = tmp_path.glob("*.world")
    key = path.name.removesuffix(".world")
    hostile = [b"", pickle.dumps(("c", "close.opportunities", ["x"], [RunsCode(tmp_path / "ran")])), b"",
               pickle.dumps(("n", {}))]
    assert WorldCache(tmp_path)._to_disk(key, hostile)  # a well-formed file, with the right digest
    later = WorldCache(tmp_path)
    assert same(build_world(settings, 5, cache=later), made) and later.last == "made"
    assert not (tmp_path / "ran").exists()


def test_a_world_read_back_is_not_changed_by_writes_to_the_store(make_client):
    """A reset after writes gives the seeded world back, whether made or kept (memory store: the
    store takes a world's dicts as its own, so a kept world must never be those dicts)."""
    mock = make_client("close", seed_data=20)
    for _ in range(3):
        listed = mock.get("/api/v1/opportunity/", headers=CLOSE_AUTH).get_json()
        assert listed["total_results"] == 21
        first = listed["data"][0]
        assert mock.put(f"/api/v1/opportunity/{first['id']}/", json={"note": "changed"}, headers=CLOSE_AUTH).status_code == 200
        assert mock.post("/api/v1/opportunity/", json={"note": "new"}, headers=CLOSE_AUTH).status_code == 200
        assert mock.post("/__mock/reset").status_code == 200
        again = mock.get(f"/api/v1/opportunity/{first['id']}/", headers=CLOSE_AUTH).get_json()
        assert again["note"] == first["note"] != "changed"


def test_worlds_from_a_keys_file_or_world_files_never_reach_the_disk(tmp_path, always_to_disk):
    keys = {"close": [{"credentials": {"ApiKeyAuth": "api_secret_never_on_disk:"}}]}
    (tmp_path / "files").mkdir()
    world_file = tmp_path / "files" / "world.json"
    world_file.write_text(json.dumps(generate("close", "all", 2, seed=77)))
    loaded = Settings(vendor="close", load=(str(world_file),))
    cache = WorldCache(tmp_path / "worlds")
    for settings, items in [(Settings(vendor="close", keys=keys), []), (loaded, world_items(loaded))]:
        build_world(settings, 10, items, cache=cache)
        assert cache.last == "made"
        build_world(settings, 10, items, cache=cache)
        assert cache.last == "memory"  # kept in this process only
    assert not (tmp_path / "worlds").exists()


def test_a_change_of_code_makes_the_world_again(tmp_path, always_to_disk, monkeypatch):
    settings = Settings(vendor="close")
    build_world(settings, 5, cache=WorldCache(tmp_path))
    monkeypatch.setattr(world_cache, "_code_digest", "another version of crm-mock")
    later = WorldCache(tmp_path)
    build_world(settings, 5, cache=later)
    assert later.last == "made"


def test_the_disk_keeps_only_the_most_recently_used_worlds(tmp_path, always_to_disk, monkeypatch):
    monkeypatch.setattr(world_cache, "DISK_KEEP", 2)
    (tmp_path / "notes.txt").write_text("a file of the user's")  # never the cache's to remove
    file_of = {}
    for seed in range(4):
        before = set(tmp_path.glob("*.world"))
        build_world(Settings(vendor="close", seed=seed), 5, cache=WorldCache(tmp_path))
        (file_of[seed],) = set(tmp_path.glob("*.world")) - before or {None}
        time.sleep(0.02)  # distinct modification times
        if seed == 2:  # seed 1's world is read back: now more recently used than seed 2's
            used = WorldCache(tmp_path)
            build_world(Settings(vendor="close", seed=1), 5, cache=used)
            assert used.last == "disk"
            time.sleep(0.02)
    assert set(tmp_path.glob("*.world")) == {file_of[1], file_of[3]}
    assert (tmp_path / "notes.txt").exists()


def test_a_server_serves_the_world_kept_on_disk(tmp_path, always_to_disk):
    """Over HTTP: the world a process kept is the one a server starting on that cache serves, and
    its start-up log says where the world came from."""
    cache = tmp_path / "worlds"
    build_world(Settings(vendor="close", seed=9), 300, cache=WorldCache(cache))  # as a first start would
    pages, logs = [], []
    for setting in (str(cache), "off"):
        process, port = start("--vendor", "close", "--seed-data", "300", "--seed", "9", "--world-cache", setting)
        try:
            page = requests.get(f"http://127.0.0.1:{port}/api/v1/opportunity/", params={"_limit": 100, "_skip": 150},
                                auth=("key", ""), timeout=10)
            assert page.status_code == 200
            pages.append(page.json())
        finally:
            process.terminate()
            process.wait(timeout=10)
        logs.append(output_of(process))
    assert "world read from" in logs[0] and "world read from" not in logs[1], logs
    assert pages[0] == pages[1] and pages[0]["total_results"] == 301
