"""Where the mock keeps what clients create: `open_store("memory")`, `open_store("sqlite:PATH")` or
`open_store("postgresql://user@host:port/db")`."""
from mock_server.store.base import Query, Store, StoreUnavailable
from mock_server.store.memory import MemoryStore
from mock_server.store.sqlite import SqliteStore
from mock_server.store.urls import shown_url

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def check_url(url: str) -> None:
    """A ValueError for a store URL no store answers to (before anything is opened)."""
    if url not in ("", "memory") and not url.startswith(("sqlite:", *POSTGRES_SCHEMES)):
        raise ValueError(f"unknown store {shown_url(url)!r}: use 'memory', 'sqlite:PATH' or 'postgresql://USER@HOST:PORT/DB'")


def open_store(url: str = "memory") -> Store:
    check_url(url)
    if url in ("", "memory"):
        return MemoryStore()
    if url.startswith("sqlite:"):
        return SqliteStore(url.removeprefix("sqlite:"))
    from mock_server.store.postgresql import PostgresStore  # psycopg only when asked for

    # One store (one connection pool) per database per process, however many apps open it.
    if url not in _POSTGRES:
        _POSTGRES[url] = PostgresStore(url)
    return _POSTGRES[url]


_POSTGRES: dict[str, Store] = {}


__all__ = ["MemoryStore", "Query", "SqliteStore", "Store", "StoreUnavailable", "check_url", "open_store", "shown_url"]
