"""Where the mock keeps what clients create. `open_store("memory")` or `open_store("sqlite:PATH")`."""
from mock_server.store.base import Query, Store
from mock_server.store.memory import MemoryStore
from mock_server.store.sqlite import SqliteStore


def open_store(url: str = "memory") -> Store:
    if url in ("", "memory"):
        return MemoryStore()
    if url.startswith("sqlite:"):
        return SqliteStore(url.removeprefix("sqlite:"))
    raise ValueError(f"unknown store {url!r}: use 'memory' or 'sqlite:PATH'")


__all__ = ["MemoryStore", "Query", "SqliteStore", "Store", "open_store"]
