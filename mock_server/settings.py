"""One typed object for everything an app is configured with; `create_app` takes it (or its
fields as keyword arguments). Only the command line reads the environment (`CRM_MOCK_KEYS`)."""
from __future__ import annotations

from dataclasses import dataclass, field

from mock_server.identity import Keys
from mock_server.store import Store

MAX_BODY_BYTES = 1024 * 1024  # larger bodies get the vendor's 413


@dataclass(frozen=True)
class Settings:
    vendor: str = "all"  # one vendor served at the root, or "all" behind /<vendor> prefixes
    store: str | Store = "memory"  # "memory", "sqlite:PATH", or a Store
    keys: Keys = field(default_factory=Keys)  # accepted credentials; empty: any well-formed one
    seed: int = 0  # seeds IDs and generated data
    seed_data: int = 0  # opportunities preloaded per vendor
    strict: bool = False  # a response that breaks the spec becomes a 500 naming the field
    journal_size: int = 1000
    reset_on_start: bool = True  # False keeps what a shared SQLite store already holds (extra workers)
    rate_limit: str | None = None  # "10/s": the vendor's throttling answer past that, per credential
    admin_key: str | None = None  # required on /__mock/ (but health) when set, or when keys are given
    reproducible_tokens: bool = False  # issued tokens from the seed (tests that pin them), else random
    latency: str | None = None  # "50ms±20": every call slowed (chaos)
    error_rate: float = 0.0  # this fraction of calls gets the vendor's 503 or throttling answer (chaos)
    scenario: tuple = ()  # overrides set at start and again after every reset (--scenario FILE)
    load: tuple[str, ...] = ()  # world files (`[VENDOR:]PATH`) loaded into every seeded world (--load)
    max_body_bytes: int = MAX_BODY_BYTES
    namespace_ttl: float | None = 3600.0  # seconds a namespace may stay idle before it is dropped; None: never
    # Where seeded worlds are kept for the next start: "auto" (CRM_MOCK_WORLD_CACHE, else
    # ~/.cache/crm-mock/worlds), a directory, or "off" (made at every start; kept in memory for resets).
    world_cache: str = "auto"

    def __post_init__(self) -> None:
        if not isinstance(self.keys, Keys):  # a path or a parsed mapping
            object.__setattr__(self, "keys", Keys.load(self.keys))

    @property
    def admin_required(self) -> bool:
        """With a keys file the mock is access-controlled: so is its control API."""
        return bool(self.admin_key) or bool(self.keys)
