"""`crm-mock fixtures`: realistic, seeded, schema-valid records for other teams' tests.

Fixtures are not a second copy of the vendor rules: the world is the one `crm-mock serve --vendor
VENDOR --seed-data COUNT --seed SEED` serves, made by the same code that answers HTTP requests (or
read from the world cache, where that code kept it), and the records are read back.
"""
from __future__ import annotations

from mock_server.serve.worlds import build_world as serve_world
from mock_server.settings import Settings
from mock_server.spec import load_spec
from mock_server.store.namespaced import NamespacedStore
from mock_server.store.scratch import ScratchStore
from mock_server.vendors import VENDOR_CLASSES, Vendor
from mock_server.world_cache import WorldCache, cache_directory


def build_world(vendor_name: str, count: int, seed: int, progress=None) -> Vendor:
    """A vendor's seeded world in a private in-memory store, and the vendor reading it."""
    settings = Settings(vendor=vendor_name, seed=seed)
    world = serve_world(settings, count, cache=WorldCache(cache_directory(settings.world_cache)), progress=progress)
    store = NamespacedStore(ScratchStore())
    store.inner.load(world)
    return VENDOR_CLASSES[vendor_name](load_spec(vendor_name), store, seed)


def fixture_resources(vendor_name: str) -> dict[str, tuple[str, str]]:
    """resource name → (store collection, spec schema component), as the vendor declares them."""
    return VENDOR_CLASSES[vendor_name].FIXTURES


def generate(vendor_name: str, resource: str, count: int, seed: int, progress=None) -> dict[str, list[dict]]:
    """{resource: records} — one resource, or every resource of the vendor when `resource` is "all".
    A single resource is capped at `count` records; "all" keeps every related record, so each
    reference in the output points at a record in the same output."""
    resources = fixture_resources(vendor_name)
    if resource != "all" and resource not in resources:
        raise KeyError(resource)
    vendor = build_world(vendor_name, count, seed, progress)
    wanted = resources if resource == "all" else {resource: resources[resource]}
    out = {}
    for name, (collection, _schema) in wanted.items():
        rows = [vendor.fixture_record(name, r) for r in vendor.store.all(vendor.collection(collection))]
        out[name] = rows if resource == "all" else rows[:count]
    return out
