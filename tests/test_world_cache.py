"""Seeded worlds are made once: kept in memory for resets and on disk for the next start, and what
comes back is exactly the world the vendors' code makes (mock_server/world_cache.py)."""
from __future__ import annotations

import pytest
import requests

from mock_server import world_cache
from mock_server.serve.worlds import build_world
from mock_server.settings import Settings
from mock_server.store.namespaced import inside
from mock_server.world_cache import WorldCache
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
    later = WorldCache(tmp_path)  # a new process: nothing in memory
    assert same(build_world(settings, 30, cache=later), made) and later.last == "disk"

    path.write_bytes(path.read_bytes()[:-7])  # cut short (a full disk, a killed writer)
    again = WorldCache(tmp_path)
    assert same(build_world(settings, 30, cache=again), made) and again.last == "made"
    assert same(build_world(settings, 30, cache=WorldCache(tmp_path)), made)  # and written whole again

    path.write_bytes(b"\x07\x00\x00\x00garbage")
    assert same(build_world(settings, 30, cache=WorldCache(tmp_path)), made)


def test_worlds_from_a_keys_file_or_world_files_never_reach_the_disk(tmp_path, always_to_disk):
    keys = {"close": [{"credentials": {"ApiKeyAuth": "api_secret_never_on_disk:"}}]}
    cache = WorldCache(tmp_path)
    build_world(Settings(vendor="close", keys=keys), 10, cache=cache)
    assert cache.last == "made" and not list(tmp_path.iterdir())
    build_world(Settings(vendor="close", keys=keys), 10, cache=cache)
    assert cache.last == "memory"  # kept in this process only


def test_the_disk_keeps_only_the_most_recently_used_worlds(tmp_path, always_to_disk, monkeypatch):
    monkeypatch.setattr(world_cache, "DISK_KEEP", 2)
    for seed in range(4):
        build_world(Settings(vendor="close", seed=seed), 5, cache=WorldCache(tmp_path))
    assert len(list(tmp_path.glob("*.world"))) == 2


def test_a_second_server_start_reads_the_world_the_first_one_made(tmp_path):
    """Over HTTP: the world a cold start makes (over DISK_AFTER_S) is the one a warm start serves."""
    args = ("--vendor", "close", "--seed-data", "12000", "--seed", "9", "--world-cache", str(tmp_path / "worlds"))
    pages = []
    for _ in range(2):
        process, port = start(*args)
        try:
            page = requests.get(f"http://127.0.0.1:{port}/api/v1/opportunity/", params={"_limit": 100, "_skip": 11000},
                                auth=("key", ""), timeout=10)
            assert page.status_code == 200
            pages.append(page.json())
        finally:
            process.terminate()
            process.wait(timeout=10)
        pages.append(output_of(process))
    made, made_log, read, read_log = pages
    assert "kept in" in made_log and "world read from" in read_log, (made_log, read_log)
    assert read == made and made["total_results"] == 12001
