"""The app's shared state, typed: what the control endpoints (and tests) reach through the app."""
from __future__ import annotations

from dataclasses import dataclass

from flask import Flask

from mock_server.pipeline import Pipeline
from mock_server.pipeline.journal import Journal
from mock_server.serve.namespaces import Namespaces
from mock_server.settings import Settings
from mock_server.spec import Spec
from mock_server.steering.overrides import OverrideBook
from mock_server.store import Store
from mock_server.store.base import SeededWorld
from mock_server.store.namespaced import CURRENT
from mock_server.vendors import Vendor

EXTENSION = "crm_mock"


@dataclass
class MockState:
    """What the control endpoints (and tests) may reach: one typed place, not a loose dict.

    `store` is the store as the current namespace sees it (store/namespaced.py); `namespaces` knows
    them all."""

    settings: Settings
    store: Store
    journal: Journal
    vendors: dict[str, Vendor]
    pipelines: list[Pipeline]
    overrides: OverrideBook
    namespaces: Namespaces

    def reset(self, count: int | None = None, namespace: str | None = None) -> None:
        """The current (or the named) namespace back to its seeded world; `count` overrides
        --seed-data (0: statuses, users, ... only). Atomic: see Namespaces.reset."""
        self.namespaces.reset(namespace or CURRENT.get(), count)
        for pipeline in self.pipelines:
            pipeline.reset()  # stages that keep state of their own

    def restore(self, world: SeededWorld) -> None:
        """The current namespace's world replaced by a snapshot file's (serve/snapshots.py)."""
        self.namespaces.restore(CURRENT.get(), world)
        for pipeline in self.pipelines:
            pipeline.reset()

    def reset_to(self, snapshot: str) -> bool:
        """The current namespace back to its named snapshot; False if it has none of that name."""
        found = self.namespaces.reset_to(CURRENT.get(), snapshot)
        for pipeline in self.pipelines:
            pipeline.reset()
        return found

    @property
    def specs(self) -> dict[str, Spec]:
        """vendor → its spec (the operations, methods and paths a `match` may name)."""
        return {name: v.spec for name, v in self.vendors.items()}

    @property
    def base_urls(self) -> dict[str, str]:
        return {p.mount.vendor.name: p.mount.base + "/" for p in self.pipelines}


def state_of(app: Flask) -> MockState:
    return app.extensions[EXTENSION]
