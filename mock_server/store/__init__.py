"""Where the mock keeps what clients create: `open_store("memory")`, `open_store("sqlite:PATH")` or
`open_store("postgresql://user@host:port/db")`."""
from mock_server.store.base import Query, Store, StoreUnavailable
from mock_server.store.memory import MemoryStore
from mock_server.store.sqlite import SqliteStore


def open_store(url: str = "memory") -> Store:
    if url in ("", "memory"):
        return MemoryStore()
    if url.startswith("sqlite:"):
        return SqliteStore(url.removeprefix("sqlite:"))
    if url.startswith(("postgresql://", "postgres://")):
        from mock_server.store.postgresql import PostgresStore  # psycopg only when asked for

        # One store (one connection pool) per database per process, however many apps open it.
        if url not in _POSTGRES:
            _POSTGRES[url] = PostgresStore(url)
        return _POSTGRES[url]
    raise ValueError(f"unknown store {url!r}: use 'memory', 'sqlite:PATH' or 'postgresql://...'")


_POSTGRES: dict[str, Store] = {}


__all__ = ["MemoryStore", "Query", "SqliteStore", "Store", "StoreUnavailable", "open_store"]
