"""The app's shared state, typed: what the control endpoints (and tests) reach through the app."""
from __future__ import annotations

from dataclasses import dataclass

from flask import Flask

from mock_server.pipeline import Pipeline
from mock_server.pipeline.journal import Journal
from mock_server.settings import Settings
from mock_server.steering.overrides import OverrideBook
from mock_server.store import Store
from mock_server.vendors import Vendor

EXTENSION = "crm_mock"


@dataclass
class MockState:
    """What the control endpoints (and tests) may reach: one typed place, not a loose dict."""

    settings: Settings
    store: Store
    journal: Journal
    vendors: dict[str, Vendor]
    pipelines: list[Pipeline]
    overrides: OverrideBook

    def reset(self, count: int | None = None) -> None:
        """Back to the seeded world; `count` overrides --seed-data (0: statuses, users, ... only).

        One transaction: other workers see the old world or the new one, never a half-seeded mix,
        and a write racing the reset cannot mint an ID the reseeding mints again."""
        with self.store.transaction():
            self.store.clear()
            for vendor in self.vendors.values():
                vendor.seed_world(self.settings.seed_data if count is None else count)
            for override in self.settings.scenario:  # the configured overrides are part of the world
                self.overrides.add(override)
        self.journal.clear()
        for pipeline in self.pipelines:
            pipeline.reset()  # e.g. rate-limit windows

    @property
    def operations(self) -> dict[str, set[str]]:
        """vendor → its operationIds (what a `match` may name)."""
        return {name: set(v.spec.by_id) for name, v in self.vendors.items()}

    @property
    def base_urls(self) -> dict[str, str]:
        return {p.mount.vendor.name: p.mount.base + "/" for p in self.pipelines}


def state_of(app: Flask) -> MockState:
    return app.extensions[EXTENSION]
