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
from mock_server.store.namespaced import NamespacedStore
from mock_server.store.scratch import ScratchStore, collector_paused
from mock_server.vendors import VENDOR_CLASSES
from mock_server.world_files import Item, check, read, write


def served(settings: Settings) -> list[str]:
    return list(VENDOR_CLASSES) if settings.vendor == "all" else [settings.vendor]


def world_items(settings: Settings) -> list[Item]:
    """The records of every `--load` file, read once (BadWorld names the first problem)."""
    return [item for source in settings.load for item in read(source, served(settings))]


def build_world(settings: Settings, count: int | None, items: Sequence[Item] = ()) -> SeededWorld:
    """The current namespace's world (`count` opportunities per vendor; --seed-data if None)."""
    scratch = NamespacedStore(ScratchStore())
    twins = {name: VENDOR_CLASSES[name](load_spec(name), scratch, settings.seed, settings.keys.for_vendor(name),
                                        settings.reproducible_tokens) for name in served(settings)}
    with collector_paused():
        for twin in twins.values():
            twin.seed_world(settings.seed_data if count is None else count)
    if items:
        write(check(list(items), twins))
    scenario = OverrideBook(scratch, {name: set(twin.spec.by_id) for name, twin in twins.items()})
    for override in settings.scenario:
        scenario.add(override)
    return cast(ScratchStore, scratch.inner).dump()
