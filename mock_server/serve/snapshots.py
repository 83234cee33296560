"""Snapshots: a namespace's whole world — every collection, and the counters and clocks that let it
continue exactly — as one JSON file, and named copies of it kept in the store.

A file is what `GET /__mock/snapshot` returns and `POST /__mock/restore` takes back; the same world
gives the same bytes (collections and counters sorted by name, records in the order they were
stored). A named snapshot (`PUT /__mock/snapshots/NAME`, `POST /__mock/reset?to=NAME`) is the world
copied under a reserved prefix of the same store, so every worker and host sharing the store can
return to it, and on SQLite and PostgreSQL the copy never leaves the database. The request journal
and rate-limit windows are traffic, not world: neither is saved nor restored.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

from mock_server import jsonio
from mock_server.spec import Spec
from mock_server.steering.overrides import COLLECTION as OVERRIDES
from mock_server.steering.overrides import stored_problem
from mock_server.store import Store
from mock_server.store.base import SeededWorld
from mock_server.vendors import Vendor
from mock_server.world_files import record_key, record_problem

FORMAT = 1
SNAPSHOTS = "__mock.snapshots"  # raw collection: one row per named snapshot, "NAMESPACE:NAME" → its facts
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
COLLECTION_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}")


class BadSnapshot(ValueError):
    """A restore body that is not a snapshot file; the message says where it is wrong."""


def stored_prefix(namespace: str, name: str) -> str:
    # Namespace names cannot start with "_", so no namespace's prefix can be this one's.
    return f"__snapshot:{namespace}:{name}/"


def to_document(world: SeededWorld, namespace: str) -> bytes:
    """The file for `world` (names under `namespace/`), without the namespace: it restores anywhere."""
    cut = len(namespace) + 1
    return jsonio.dumps({
        "crm_mock": "snapshot", "format": FORMAT,
        "collections": {name[cut:]: [[key, record] for key, record in rows.items()]
                        for name, rows in sorted(world.collections.items())},
        "counters": {name[cut:]: value for name, value in sorted(world.counters.items())},
    })


def from_document(raw: bytes, namespace: str) -> SeededWorld:
    """The world in a snapshot file, under `namespace/`; BadSnapshot names the first thing wrong."""
    suspect = b"\\u0000" in raw  # JSON writes NUL only so: records are walked for it only then
    try:
        document = jsonio.loads(raw)
    except ValueError as error:
        raise BadSnapshot(f"not JSON: {error}") from None
    if not isinstance(document, dict) or document.get("crm_mock") != "snapshot":
        raise BadSnapshot('not a crm-mock snapshot: the top level needs "crm_mock": "snapshot" '
                          "(GET /__mock/snapshot makes one)")
    if document.get("format") != FORMAT:
        raise BadSnapshot(f"format {document.get('format')!r}: this crm-mock reads format {FORMAT}")
    unknown = sorted(set(document) - {"crm_mock", "format", "collections", "counters"})
    if unknown:
        raise BadSnapshot(f"{unknown[0]}: unknown top-level field")
    collections, counters = document.get("collections"), document.get("counters")
    if not isinstance(collections, dict) or not isinstance(counters, dict):
        raise BadSnapshot('"collections" and "counters" must both be objects')
    world = SeededWorld({}, {})
    for name, rows in collections.items():
        _check_name(name, "collections")
        if not isinstance(rows, list):
            raise BadSnapshot(f"collections.{name}: a list of [key, record] pairs")
        records: dict = {}
        for index, row in enumerate(rows):
            where = f"collections.{name}[{index}]"
            if not (isinstance(row, list) and len(row) == 2 and isinstance(row[1], dict)
                    and isinstance(row[0], str | int) and not isinstance(row[0], bool)):
                raise BadSnapshot(f"{where}: a [key, record] pair (key a string or an integer, record an object)")
            if row[0] in records:
                raise BadSnapshot(f"{where}: key {row[0]!r} appears twice")
            problem = suspect and (jsonio.unstorable(row[0], f"{where} (key)") or jsonio.unstorable(row[1], where))
            if problem:
                raise BadSnapshot(problem)
            records[row[0]] = row[1]
        world.collections[f"{namespace}/{name}"] = records
    for name, value in counters.items():
        _check_name(name, "counters")
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise BadSnapshot(f"counters.{name}: a whole number, 0 or more")
        world.counters[f"{namespace}/{name}"] = value
    return world


def check(world: SeededWorld, namespace: str, vendors: Mapping[str, Vendor], specs: Mapping[str, Spec]) -> None:
    """BadSnapshot naming the first record that would break the namespace once restored: an override
    POST /__mock/overrides would refuse, or a record of a served vendor that its spec's schema refuses
    (checked as a world file's record is). Collections no vendor here serves are kept as they are."""
    fields: dict[tuple[str, str], set[str] | None] = {}
    for name, rows in world.collections.items():
        collection = name[len(namespace) + 1:]
        for index, (key, record) in enumerate(rows.items()):
            problem = _record_problem(collection, key, record, vendors, specs, fields)
            if problem:
                raise BadSnapshot(f"collections.{collection}[{index}] ({key!r}): {problem}")


def _record_problem(collection: str, key, record: dict, vendors: Mapping[str, Vendor], specs: Mapping[str, Spec],
                    fields: dict[tuple[str, str], set[str] | None]) -> str | None:
    if collection == OVERRIDES:
        return stored_problem(key, record, specs)
    vendor_name, _, kind = collection.partition(".")
    vendor = vendors.get(vendor_name)
    resource = next((r for r, (k, _) in vendor.FIXTURES.items() if k == kind), None) if vendor else None
    if vendor is not None and resource is None and kind in vendor.STATIC_COLLECTIONS:
        return _static_problem(vendor, kind, key, record, fields)
    if vendor is None or resource is None:
        return None
    if record_key(record) != key:
        return f"its ID is {record_key(record)!r}, but it is stored as {key!r}"
    return record_problem(vendor, resource, vendor.fixture_record(resource, record), fields)


def _static_problem(vendor: Vendor, kind: str, key, record, fields: dict) -> str | None:
    """A record of a collection the vendor keeps for itself (users, pipelines, coworkers), which no spec
    schema describes: it must hold every field the vendor's own records of it hold, or the handlers
    that read it fail (a pipeline without its name made every Close create a 500)."""
    if not isinstance(record, Mapping):
        return "must be an object"
    if record_key(record) != key:
        return f"its ID is {record_key(record)!r}, but it is stored as {key!r}"
    if (vendor.name, f"static:{kind}") not in fields:
        present = [set(r) for r in vendor.static(kind).values()]  # the namespace's world before the restore
        fields[vendor.name, f"static:{kind}"] = set.intersection(*present) if present else set()
    missing = sorted(fields[vendor.name, f"static:{kind}"] - set(record))
    return f"{missing[0]}: missing (every {kind} record of the world has it)" if missing else None


def _check_name(name: str, where: str) -> None:
    if not COLLECTION_NAME.fullmatch(name):
        raise BadSnapshot(f"{where}: {name[:80]!r} is not a collection or counter name")


class NamedSnapshots:
    """The named snapshots of every namespace, kept in the (raw) store."""

    def __init__(self, raw: Store) -> None:
        self.raw = raw

    def save(self, namespace: str, name: str, now: float) -> dict:
        """The namespace's world as it is now, under `name` (replacing one of that name)."""
        prefix = stored_prefix(namespace, name)
        with self.raw.transaction():
            self.raw.drop(prefix)
            self.raw.copy(namespace + "/", prefix)
            facts = {"namespace": namespace, "name": name, "created": now,
                     "records": sum(n for c, n in self.raw.collections().items() if c.startswith(prefix))}
            key = f"{namespace}:{name}"
            (self.raw.replace if self.raw.get(SNAPSHOTS, key) else self.raw.insert)(SNAPSHOTS, key, facts)
        return facts

    def exists(self, namespace: str, name: str) -> bool:
        return self.raw.get(SNAPSHOTS, f"{namespace}:{name}") is not None

    def listed(self, namespace: str) -> list[dict]:
        return sorted((r for r in self.raw.all(SNAPSHOTS) if r["namespace"] == namespace), key=lambda r: r["name"])

    def delete(self, namespace: str, name: str) -> bool:
        with self.raw.transaction():
            self.raw.drop(stored_prefix(namespace, name))
            return self.raw.delete(SNAPSHOTS, f"{namespace}:{name}")

    def delete_all(self, namespace: str) -> None:
        """A namespace dropped takes its snapshots with it."""
        for facts in self.listed(namespace):
            self.delete(namespace, facts["name"])
