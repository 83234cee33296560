"""The namespaces a server knows: each seeded on first use, listed with its size, dropped when idle.

The registry is one collection in the store outside every namespace (`__mock.namespaces`), so every
process and host sharing the store agrees on it. A world is built first, in a scratch memory store
and without any lock (`build`); then, under the store's write lock, the registry is checked again
and the world written in bulk (`Store.load`): two workers meeting a new namespace at once load it
once, and a reset to 100,000 opportunities does not hold up other requests while it is being made.
"""
from __future__ import annotations

import time
from collections.abc import Callable

from mock_server.serve.snapshots import NamedSnapshots, stored_prefix
from mock_server.store import Store
from mock_server.store.base import SeededWorld
from mock_server.store.namespaced import DEFAULT, inside
from mock_server.threads import off_the_event_loop

REGISTRY = "__mock.namespaces"
TOUCH_EVERY = 1.0  # seconds between two `last_used` writes of one namespace by one process
SWEEP_EVERY = 30.0  # seconds between two looks for idle namespaces, per process
MIN_TTL = 60.0  # a namespace is dropped only when idle much longer than TOUCH_EVERY


class Namespaces:
    def __init__(self, raw: Store, build: Callable[[int | None], SeededWorld], ttl: float | None,
                 clock=time.time, loaded: Callable[[], None] = lambda: None) -> None:
        self.raw = raw  # the store without a namespace prefix
        self.build = build  # the current namespace's seeded world (count: --seed-data if None)
        self.loaded = loaded  # called after a world is loaded (caches of the old one go)
        self.ttl = ttl  # None: never dropped
        self.snapshots = NamedSnapshots(raw)
        self.clock = clock
        self._seen: dict[str, float] = {}  # name → when this process last wrote its last_used
        self._swept = clock()

    def enter(self, name: str) -> None:
        """Called for every request of `name`: seeds it on first use and keeps it from expiring."""
        now = self.clock()
        seen = self._seen.get(name)
        if seen is not None and now - seen < TOUCH_EVERY:
            return  # the cheap path: one dict lookup per request
        world = None if self._live(self.raw.get(REGISTRY, name), now) else self._world(name, None)
        with self.raw.transaction():
            row = self.raw.get(REGISTRY, name)
            fresh = not self._live(row, now)
            if fresh:
                if row is not None:  # idle past the TTL, not swept yet: what a sweep would drop is gone
                    self.raw.delete(REGISTRY, name)
                    self.raw.drop(name + "/")
                    self.snapshots.delete_all(name)
                self.raw.load(world or self._world(name, None))  # (dropped meanwhile: build it now)
                self.raw.insert(REGISTRY, name, {"name": name, "created": now, "last_used": now})
            else:
                self.raw.replace(REGISTRY, name, {**row, "last_used": now})
        if fresh:
            self._after_load()
        self._seen[name] = now  # only now: a request racing this one waits above until the world is there
        self.tick(now)

    def _live(self, row: dict | None, now: float) -> bool:
        """Whether a registry row is a namespace still in use: there, and not idle past the TTL."""
        return row is not None and (self.ttl is None or row["name"] == DEFAULT or now - row["last_used"] <= self.ttl)

    def tick(self, now: float | None = None) -> None:
        """Called by every vendor request (of any namespace): idle namespaces go within SWEEP_EVERY
        of expiring, whatever the traffic, not only when some other namespace is used."""
        if self.ttl is not None:
            now = self.clock() if now is None else now
            if now - self._swept >= SWEEP_EVERY:
                self.sweep(now)

    def exists(self, name: str) -> bool:
        """Whether `name` has been made (the default namespace always is)."""
        return name == DEFAULT or self.raw.get(REGISTRY, name) is not None

    def reset(self, name: str, count: int | None) -> None:
        """Back to the seeded world, in one transaction: other workers see the old world or the new one,
        never a half-seeded mix, and a write racing the reset cannot mint an ID the reseeding mints again."""
        world = self._world(name, count)  # built before the lock: requests go on meanwhile
        self._replace(name, lambda: self._drop_and_load(name, world))

    def restore(self, name: str, world: SeededWorld) -> None:
        """The namespace's world replaced by `world` (a snapshot file's), the same way as a reset."""
        self._replace(name, lambda: self._drop_and_load(name, world))

    def _drop_and_load(self, name: str, world: SeededWorld) -> None:
        self.raw.drop(name + "/")
        self.raw.load(world)

    def reset_to(self, name: str, snapshot: str) -> bool:
        """Back to the named snapshot `snapshot` of the namespace; False if there is none."""
        if not self.snapshots.exists(name, snapshot):
            return False
        self._replace(name, lambda: self.raw.copy_over(stored_prefix(name, snapshot), name + "/"))
        return True

    def _replace(self, name: str, fill: Callable[[], None]) -> None:
        """`fill` replaces everything under the namespace (records, counters, logs, windows)."""
        now = self.clock()
        self.raw.settle_logs()  # journal entries still on their way land before the drop, not after it
        with self.raw.transaction():
            fill()
            row = self.raw.get(REGISTRY, name)
            record = {"name": name, "created": row["created"] if row else now, "last_used": now}
            (self.raw.replace if row else self.raw.insert)(REGISTRY, name, record)
        self._after_load()
        self._seen[name] = now

    def _world(self, name: str, count: int | None) -> SeededWorld:
        # Seconds of CPU: under gevent, in the request's greenlet it would stop every other request.
        return off_the_event_loop(self._build_inside, name, count)

    def _build_inside(self, name: str, count: int | None) -> SeededWorld:
        with inside(name):
            return self.build(count)

    def _after_load(self) -> None:
        self.raw.analyze()  # a new world's statistics, so filtered pages use the selective index
        self.loaded()

    def drop(self, name: str) -> bool:
        """Everything of `name`, now; False when there was no such namespace."""
        self.raw.settle_logs()
        with self.raw.transaction():
            known = self.raw.delete(REGISTRY, name)
            self.raw.drop(name + "/")
            self.snapshots.delete_all(name)
        self._seen.pop(name, None)
        return known

    def listed(self) -> list[dict]:
        """Every namespace with its records per collection and in total, oldest first."""
        sizes: dict[str, dict[str, int]] = {}
        for collection, count in self.raw.collections().items():
            name, slash, rest = collection.partition("/")
            if slash and not rest.startswith("__"):  # the mock's own bookkeeping is not a record
                sizes.setdefault(name, {})[rest] = count
        rows = sorted(self.raw.all(REGISTRY), key=lambda r: r["created"])
        return [{"name": r["name"], "records": sum(sizes.get(r["name"], {}).values()),
                 "collections": sizes.get(r["name"], {}), "created": r["created"], "last_used": r["last_used"],
                 "expires": None if self.ttl is None or r["name"] == DEFAULT else r["last_used"] + self.ttl}
                for r in rows]

    def sweep(self, now: float | None = None) -> list[str]:
        """Drop the namespaces idle past the TTL (never the default one); returns their names."""
        now = self.clock() if now is None else now
        self._swept = now
        if self.ttl is None:
            return []
        idle = [r["name"] for r in self.raw.all(REGISTRY)
                if r["name"] != DEFAULT and now - r["last_used"] > self.ttl]
        dropped = []
        for name in idle:
            with self.raw.transaction():  # look again under the lock: a request may have just used it
                row = self.raw.get(REGISTRY, name)
                if row is not None and now - row["last_used"] > self.ttl:
                    self.raw.delete(REGISTRY, name)
                    self.raw.drop(name + "/")
                    self.snapshots.delete_all(name)
                    self._seen.pop(name, None)
                    dropped.append(name)
        return dropped
