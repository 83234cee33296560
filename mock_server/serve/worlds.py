"""How a namespace's world is made: each vendor's seeded world, the world files given with `--load`,
then the configured overrides (`--scenario`), built in a scratch memory store by twins of the
serving vendors (same code, same seed, so the same world) and handed to the store in one bulk
write (`Store.load`, see serve/namespaces.py). Nothing served is touched while it is being made.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from mock_server.settings import Settings
from mock_server.spec import load_spec
from mock_server.steering.overrides import OverrideBook
from mock_server.store.base import SeededWorld
from mock_server.store.namespaced import CURRENT, NamespacedStore
from mock_server.store.scratch import ScratchStore, collector_paused
from mock_server.vendors import VENDOR_CLASSES
from mock_server.world_cache import WorldCache, code_digest, fingerprint
from mock_server.world_files import Item, check, read, write


def served(settings: Settings) -> list[str]:
    return list(VENDOR_CLASSES) if settings.vendor == "all" else [settings.vendor]


def world_items(settings: Settings) -> list[Item]:
    """The records of every `--load` file, read once (BadWorld names the first problem)."""
    return [item for source in settings.load for item in read(source, served(settings))]


def build_world(settings: Settings, count: int | None, items: Sequence[Item] = (),
                cache: WorldCache | None = None, progress=None) -> SeededWorld:
    """The current namespace's world (`count` opportunities per vendor; --seed-data if None).
    Its seeded part comes from `cache` when that holds it (made before by this same code); the
    scenario's overrides are added every time, since each gets a new id and version."""
    count = settings.seed_data if count is None else count
    # The collector paused whether the world is made or read back: either is millions of new objects
    # (reading one back with it running, a full pass held a reset's other requests for 118 ms).
    with collector_paused():
        if cache is None:
            world = _seeded(settings, count, items, progress)
        else:
            # Everything _seeded reads from settings, and the code (code_digest) that reads it.
            key = fingerprint(code_digest(), served(settings), settings.seed, count, repr(settings.keys),
                              settings.reproducible_tokens, repr(list(items)))
            # Worlds made from a keys file or world files stay in memory: a user's own users and
            # records are not copied into a cache directory.
            world = cache.world(key, CURRENT.get() + "/", lambda: _seeded(settings, count, items, progress),
                                to_disk=not settings.keys and not items)
        return _with_scenario(settings, world) if settings.scenario else world


def _seeded(settings: Settings, count: int, items: Sequence[Item], progress=None) -> SeededWorld:
    """Each served vendor's seeded world, and the records of the --load files checked against it."""
    scratch = NamespacedStore(ScratchStore())
    twins = {name: VENDOR_CLASSES[name](load_spec(name), scratch, settings.seed, settings.keys.for_vendor(name),
                                        settings.reproducible_tokens) for name in served(settings)}
    if progress is not None:
        for twin in twins.values():
            twin.progress = progress
    for twin in twins.values():
        twin.seed_world(count)
    if items:
        write(check(list(items), twins))
    return cast(ScratchStore, scratch.inner).dump()


def _with_scenario(settings: Settings, world: SeededWorld) -> SeededWorld:
    """`world` with the --scenario overrides set, as POST /__mock/overrides sets them."""
    scratch = NamespacedStore(ScratchStore())
    scratch.inner.load(world)
    scenario = OverrideBook(scratch, {name: load_spec(name) for name in served(settings)})
    for override in settings.scenario:
        scenario.add(override)
    return cast(ScratchStore, scratch.inner).dump()
