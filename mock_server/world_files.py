"""World files: records in the vendors' own shape, loaded into a world (`crm-mock serve --load FILE`,
`POST /__mock/load`).

A world file is what `crm-mock fixtures VENDOR all` writes: JSON `{resource: [record, ...]}` or JSONL
`{"resource": ..., "record": {...}}` lines. Every record is checked before anything is written:
against its resource's schema in the vendor's spec (no field it does not name), for an ID the file
gives twice, and for references (an opportunity's lead and status must exist, in the world or in
the file). A refusal names the file, the record (its index and ID) and the field. Loaded records
keep their IDs — a record of the world with the same ID is replaced: the file says what is — and
the ID counters move past them, so a record created afterwards never takes an ID the file used.

Which vendor a file is for: `close:world.json` says so; otherwise the one vendor served, or the one
vendor whose resources the file names.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from mock_server import jsonio
from mock_server.ids import token
from mock_server.vendors import VENDOR_CLASSES, Vendor

MAX_FILE_BYTES = 512 * 1024 * 1024  # the same bound as a snapshot restored over HTTP


class BadWorld(ValueError):
    """A world file that cannot be loaded; the message names the file, the record and the field."""


@dataclass
class Item:
    """One record of a file, with where it came from (for messages)."""

    vendor: str
    resource: str
    record: dict
    where: str  # "world.json: record 3 (opportunity oppo_x)"


def split_source(source: str) -> tuple[str, str]:
    """`close:world.json` → ("close", "world.json"); a path without a vendor's name first → ("", path)."""
    vendor, sep, path = source.partition(":")
    return (vendor, path) if sep and vendor in VENDOR_CLASSES else ("", source)


def read(source: str, vendors: Iterable[str], data: bytes | None = None) -> list[Item]:
    """The records of `source` (a path, or a name for `data` sent over HTTP), each with its vendor."""
    served = list(vendors)
    vendor, path = split_source(source)
    name = Path(path).name or path
    if data is None:
        try:
            if os.path.getsize(path) > MAX_FILE_BYTES:
                raise BadWorld(f"{name}: larger than {MAX_FILE_BYTES // 2**20} MiB; split it into several --load files")
            data = Path(path).read_bytes()
        except OSError as error:
            raise BadWorld(f"{name}: cannot be read ({error.strerror})") from None
    pairs = _pairs(data, name)
    resources = {resource for resource, _ in pairs}
    vendor = vendor or _vendor_of(resources, served, name)
    if vendor not in served:
        raise BadWorld(f"{name}: its records are {vendor}'s, which this server does not serve")
    known = VENDOR_CLASSES[vendor].FIXTURES
    suspect = b"\\u0000" in data  # JSON writes NUL only so: records are walked for it only then
    items = []
    for index, (resource, record) in enumerate(pairs):
        where = f"{name}: record {index} ({resource} {record_key(record)!r})"
        if resource not in known:
            raise BadWorld(f"{name}: record {index}: {resource!r} is not a {vendor} resource; "
                           f"one of {', '.join(sorted(known))}")
        problem = suspect and jsonio.unstorable(record)
        if problem:  # PostgreSQL cannot keep it: refused on every store alike
            raise BadWorld(f"{where}: {problem}")
        items.append(Item(vendor, resource, record, where))
    return items


def _pairs(data: bytes, name: str) -> list[tuple[str, dict]]:
    """(resource, record) pairs from JSON or JSONL, in file order."""
    text = data.lstrip()
    if text.startswith(b"{") and b"\n{" not in text.rstrip():  # one JSON document (pretty-printed too)
        try:
            document = jsonio.loads(data)
        except ValueError as error:
            raise BadWorld(f"{name}: not JSON ({error}); truncated?") from None
        if isinstance(document, dict) and document.get("crm_mock") == "snapshot":
            raise BadWorld(f"{name}: a snapshot, not a world file: POST it to /__mock/restore")
        if not isinstance(document, dict) or not all(isinstance(v, list) for v in document.values()):
            raise BadWorld(f"{name}: a world file is {{resource: [records]}} (as `crm-mock fixtures VENDOR all` writes)")
        pairs = [(resource, record) for resource, records in document.items() for record in records]
    elif not text.startswith(b"{"):  # neither an object nor JSONL lines of objects
        raise BadWorld(f"{name}: a world file is {{resource: [records]}} (as `crm-mock fixtures VENDOR all` "
                       'writes), or JSONL lines {"resource": ..., "record": {...}}')
    else:
        pairs = []
        for number, line in enumerate(data.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = jsonio.loads(line)
            except ValueError as error:
                raise BadWorld(f"{name}: line {number} is not JSON ({error}); truncated?") from None
            if not (isinstance(row, dict) and set(row) == {"resource", "record"} and isinstance(row["resource"], str)):
                raise BadWorld(f'{name}: line {number}: a JSONL world file has {{"resource": ..., "record": {{...}}}} lines')
            pairs.append((row["resource"], row["record"]))
    for index, (_, record) in enumerate(pairs):
        if not isinstance(record, dict):
            raise BadWorld(f"{name}: record {index} is not an object")
    return pairs


def _vendor_of(resources: set[str], served: list[str], name: str) -> str:
    if len(served) == 1:
        return served[0]
    candidates = [v for v in served if resources <= set(VENDOR_CLASSES[v].FIXTURES)]
    if len(candidates) != 1:
        raise BadWorld(f"{name}: say which vendor it is for, e.g. --load close:{name}"
                       + (f" (its resources fit {' and '.join(candidates)})" if candidates else ""))
    return candidates[0]


def record_key(record: dict):
    return record.get("id", record.get("Id"))


def check(items: list[Item], vendors: dict[str, Vendor]) -> list[tuple[Vendor, str, object, dict]]:
    """Every item checked, as (vendor, collection kind, key, stored record) rows ready to insert;
    BadWorld at the first problem. `vendors` read the world the records go into."""
    rows: list[tuple[Vendor, str, object, dict]] = []
    ours: dict[tuple[str, str], dict] = {}  # (vendor, kind) → {key: record} of this load
    fields: dict[tuple[str, str], set[str] | None] = {}  # (vendor, schema) → its fields, read once per load
    for item in items:  # each record on its own: its schema, and its ID against the world and the file
        vendor = vendors[item.vendor]
        problem = record_problem(vendor, item.resource, item.record, fields)
        if problem:
            raise BadWorld(f"{item.where}: {problem}")
        for stored_kind, stored_key, stored in vendor.stored_from_fixture(item.resource, item.record):
            mine = ours.setdefault((item.vendor, stored_kind), {})
            if mine.get(stored_key, stored) != stored:
                raise BadWorld(f"{item.where}: duplicate ID {stored_key!r}: an earlier {stored_kind} record "
                               "of the file has it")
            mine[stored_key] = stored
            rows.append((vendor, stored_kind, stored_key, stored))
    for item in items:  # then references, to the world or anywhere in the file (any order)
        vendor = vendors[item.vendor]
        for field, target in vendor.LOAD_REFERENCES.get(item.resource, ()):
            value = item.record.get(field)
            if value is not None and value not in ours.get((item.vendor, target), {}) \
                    and vendor.lookup(target, value) is None:
                raise BadWorld(f"{item.where}: {field}: {value!r} does not exist (no {target} record has that ID, "
                               "in the world or in the file)")
    return rows


def record_problem(vendor: Vendor, resource: str, record: dict,
                   fields: dict[tuple[str, str], set[str] | None]) -> str | None:
    """What is wrong with one record of `resource` as "field: why", or None: no ID, its schema in the
    spec, a field the schema does not name. `fields` keeps each schema's fields across calls."""
    schema = vendor.FIXTURES[resource][1]
    if record_key(record) is None:
        return "no id"
    errors = sorted(vendor.spec.validator(vendor.spec.component_schema(schema)).iter_errors(record),
                    key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        field = ".".join(str(p) for p in errors[0].absolute_path) or "(the record)"
        return f"{field}: {errors[0].message}"
    if (vendor.name, schema) not in fields:
        fields[vendor.name, schema] = _fields(vendor, schema)
    known = fields[vendor.name, schema]
    unknown = [] if known is None else sorted(
        f for f in record if f not in known and not f.startswith(vendor.LOAD_OPEN_FIELDS or ("\0",)))
    if unknown:
        return f"{unknown[0]}: unknown field (not in the {schema} schema)"
    return None


def _fields(vendor: Vendor, schema: str) -> set[str] | None:
    """The fields the spec names for a schema (through allOf); None when it admits any field."""
    names: set[str] = set()
    parts = [vendor.spec.document["components"]["schemas"][schema]]
    while parts:
        part = vendor.spec.resolve(parts.pop())
        if part.get("additionalProperties") not in (None, False):
            return None
        names |= set(part.get("properties", {}))
        parts += part.get("allOf", [])
    return names


def write(rows: list[tuple[Vendor, str, object, dict]], on_each: Callable[[], None] = lambda: None) -> None:
    """Insert checked rows (inside the caller's transaction) and move the ID counters past them."""
    for vendor, kind, key, record in rows:  # the file's record wins over the world's of the same ID
        collection = vendor.collection(kind)
        current = vendor.store.get(collection, key)
        if current is None:
            vendor.store.insert(collection, key, record)
        elif current != record:
            vendor.store.replace(collection, key, record)
    by_counter: dict[tuple[int, str, int | None], set] = {}
    for vendor, kind, key, _ in rows:
        counter, start = vendor.id_counter(kind, key)
        by_counter.setdefault((id(vendor), counter, start), set()).add(key)
    vendors = {id(v): v for v, *_ in rows}
    for (vendor_id, counter, start), keys in by_counter.items():
        _move_past(vendors[vendor_id], counter, start, keys)
    for vendor in vendors.values():
        vendor.forget_static()


def _move_past(vendor: Vendor, counter: str, start: int | None, keys: set) -> None:
    """Integer IDs: the counter goes past the largest. Token IDs (`oppo_...`): minted from (seed,
    prefix, n), so a file made with the same seed holds tokens of counter values this world has not
    reached; the counter goes past the last of them (found by minting ahead: a few microseconds each)."""
    store = vendor.store
    if start is not None:
        needed = max(k for k in keys if isinstance(k, int)) - start + 1
    else:
        prefix = counter.removeprefix("id:")
        wanted = {k.partition("_")[2] for k in keys if isinstance(k, str)}
        needed, n, limit = 0, 0, len(wanted) * 4 + 10_000
        while n < limit and wanted:
            n += 1
            found = token(vendor.seed, prefix, n, len(next(iter(wanted))))
            if found in wanted:
                wanted.discard(found)
                needed = n
    if needed:
        store._advance_clock(needed, counter)  # max(needed, current + 1): counters share the clocks' table
