"""What every vendor module provides to the engine, and the pieces they share."""
from __future__ import annotations

from collections.abc import Callable

from mock_server.identity import KeyRing, Principal
from mock_server.ids import IdMinter
from mock_server.live.profile import LiveProfile
from mock_server.pipeline.exchange import Call, Reply
from mock_server.problems import MockError, not_found
from mock_server.spec import Operation, Spec
from mock_server.store import Store
from mock_server.store.namespaced import CURRENT as NAMESPACE

__all__ = ["Call", "Reply", "Vendor", "operation"]


def operation(operation_id: str):
    """Marks a vendor method as the handler of a spec operation."""

    def mark(fn: Callable) -> Callable:
        fn.operation_id = operation_id
        return fn

    return mark


class Vendor:
    """Subclasses set `name`, implement `error_reply`, `default_principal`, `seed_world`, and mark
    one method per spec operation with `@operation("operationId")`."""

    name: str = ""
    LIVE: LiveProfile  # how its real API is reached (vendors/<vendor>/live.py)
    reject_unknown_query: bool = False  # Close answers 400 to query parameters it does not know
    # `crm-mock fixtures` resources: name → (store collection, spec schema component)
    FIXTURES: dict[str, tuple[str, str]] = {}

    def __init__(self, spec: Spec, store: Store, seed: int = 0, keys: KeyRing = KeyRing(),
                 reproducible_tokens: bool = False):
        self.spec = spec
        self.store = store
        self.seed = seed
        self.keys = keys  # the keys file's entries for this vendor; empty: zero config
        self.ids = IdMinter(store, seed, reproducible_secrets=reproducible_tokens)
        self._static: dict[tuple[str, str], dict] = {}  # (namespace, kind) → {id: record}

    # Collections only seeding writes (statuses, users, board columns, ...). They are read from the
    # store once per process: every worker seeds the same world from the same seed, so a reset
    # in one worker leaves the others' copies correct.
    STATIC_COLLECTIONS: frozenset[str] = frozenset()

    def static(self, kind: str) -> dict:
        """{id: record} of a static collection, in insertion order."""
        cache = self._static.get((NAMESPACE.get(), kind))
        if cache is None:
            rows = self.store.all(self.collection(kind))
            cache = self._static[NAMESPACE.get(), kind] = {r.get("id", r.get("Id")): r for r in rows}
        return cache

    def forget_static(self) -> None:
        """Drop the copies of static collections: a new world was loaded."""
        self._static.clear()

    def first(self, kind: str) -> dict:
        """The first-seeded record of a static collection (the default user, the organization)."""
        return next(iter(self.static(kind).values()))

    def lookup(self, kind: str, key):
        """A record by id (None for none: an absent reference costs no query); static collections
        come from the per-process copy."""
        if key is None:
            return None
        if kind in self.STATIC_COLLECTIONS:
            return self.static(kind).get(key)
        return self.store.get(self.collection(kind), key)

    def remove(self, kind: str, key, resource: str) -> None:
        """Delete a record by id, or refuse with the vendor's not-found naming `resource`."""
        if not self.store.delete(self.collection(kind), key):
            raise not_found(resource)

    # World files (world_files.py): resource → ((field, collection kind it must name a record of), ...).
    LOAD_REFERENCES: dict[str, tuple[tuple[str, str], ...]] = {}
    LOAD_OPEN_FIELDS: tuple[str, ...] = ()  # field-name prefixes a record may carry beyond its schema

    def stored_from_fixture(self, resource: str, record: dict) -> list[tuple[str, object, dict]]:
        """A record as `fixture_record` printed it, back as the (collection kind, key, record) rows
        the vendor stores (a vendor that keeps more than it answers adds it back)."""
        return [(self.FIXTURES[resource][0], record.get("id", record.get("Id")), record)]

    def id_counter(self, kind: str, key) -> tuple[str, int | None]:
        """The counter that mints `kind`'s IDs like `key`, and the first integer ID (None: a token)."""
        if isinstance(key, int):
            return f"id:{self.collection(kind)}", 1
        return f"id:{str(key).partition('_')[0]}", None

    def fixture_record(self, resource: str, record: dict) -> dict:
        """A stored record as `crm-mock fixtures` prints it (the API's representation)."""
        return record

    def progress(self, done: int, total: int) -> None:
        """Called by seed_world as records are made; `crm-mock fixtures` shows it as a bar."""

    def collection(self, name: str) -> str:
        """Collections are namespaced per vendor, so vendors can share one store."""
        return f"{self.name}.{name}"

    def handlers(self) -> dict[str, Callable[[Call], Reply]]:
        found = {}
        for cls in reversed(type(self).__mro__):  # class attributes only: properties stay unevaluated
            for attr, fn in vars(cls).items():
                if callable(fn) and hasattr(fn, "operation_id"):
                    found[fn.operation_id] = getattr(self, attr)
        missing = {op.operation_id for op in self.spec.operations} - set(found)
        if missing:
            raise RuntimeError(f"{self.name}: no handler for {sorted(missing)}")
        return found

    # -- to implement ------------------------------------------------------------------------------
    def error_reply(self, error: MockError, op: Operation | None) -> Reply:
        raise NotImplementedError

    def default_principal(self, credentials: dict) -> Principal:
        raise NotImplementedError

    def lookup_principal(self, scheme: str, value: str) -> Principal | None:
        """Credentials the vendor itself issued (e.g. Nexudus tokens); None to fall through."""
        return None

    def seed_world(self, count: int) -> None:
        """Create the vendor's base world (statuses, users, ...) and `count` sample opportunities."""
