"""Namespaces: many CI jobs on one server, each with its own world, none seeing another's.

A namespace is a name prefix on everything a store keeps: `job-123/close.opportunities`, the
counter `job-123/id:oppo`, the log `job-123/journal`. `NamespacedStore` is the store as the current
namespace sees it; the current namespace is a context variable that the `namespace` stage (vendor
traffic) and the control API set for one request. A context variable rather than a parameter
because every vendor handler, the ID minter, the journal and the overrides reach the store, and
none of them should know namespaces exist; it is per thread and per greenlet, as Flask's own
request context is, so concurrent requests of different namespaces never see each other's.
"""
from __future__ import annotations

import contextvars
import re
from contextlib import contextmanager
from datetime import datetime

from mock_server.store.base import CLOCK, Query, Store

DEFAULT = "default"
CURRENT: contextvars.ContextVar[str] = contextvars.ContextVar("crm_mock_namespace", default=DEFAULT)
# Letters, digits, '.', '_', '-' (a CI job id, a branch name, a UUID); no '/', which separates the
# prefix from the name, and no leading '_', kept for the mock's own bookkeeping.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
HEADER = "X-Crm-Mock-Namespace"
ENVIRON_KEY = "HTTP_X_CRM_MOCK_NAMESPACE"


class BadNamespace(ValueError):
    pass


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise BadNamespace(f"{name[:80]!r} is not a namespace name: 1 to 64 letters, digits, "
                           "'.', '_' or '-', starting with a letter or digit")
    return name


@contextmanager
def inside(name: str):
    """Run a block as namespace `name` sees the store (seeding, a reset, a test)."""
    token = CURRENT.set(name)
    try:
        yield
    finally:
        CURRENT.reset(token)


class NamespacedStore(Store):
    """Every call is the inner store's, with the current namespace's prefix on the name."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self._pinned_by: dict[str, datetime | None] = {}  # seeding pins the clock of its namespace only

    def insert(self, collection, key, record):
        self.inner.insert(CURRENT.get() + "/" + collection, key, record)

    def get(self, collection, key):
        return self.inner.get(CURRENT.get() + "/" + collection, key)

    def replace(self, collection, key, record):
        self.inner.replace(CURRENT.get() + "/" + collection, key, record)

    def delete(self, collection, key):
        return self.inner.delete(CURRENT.get() + "/" + collection, key)

    def query(self, collection, query: Query):
        return self.inner.query(CURRENT.get() + "/" + collection, query)

    def group_sums(self, collection, where, by, fields):
        return self.inner.group_sums(CURRENT.get() + "/" + collection, where, by, fields)

    def page(self, collection, query: Query):
        return self.inner.page(CURRENT.get() + "/" + collection, query)

    def next_value(self, counter):
        return self.inner.next_value(CURRENT.get() + "/" + counter)

    def _advance_clock(self, candidate_us, name=CLOCK):
        return self.inner._advance_clock(candidate_us, CURRENT.get() + "/" + name)

    def pin_clock(self, moment):
        self._pinned_by[CURRENT.get()] = moment

    def _pinned_moment(self):
        return self._pinned_by.get(CURRENT.get())

    def clear(self):
        """Everything of the current namespace (and nothing of any other)."""
        self.inner.drop(CURRENT.get() + "/")

    def drop(self, prefix):
        self.inner.drop(CURRENT.get() + "/" + prefix)

    def analyze(self):
        self.inner.analyze()

    def dump(self, prefix):
        return self.inner.dump(CURRENT.get() + "/" + prefix)

    def collections(self):
        prefix = CURRENT.get() + "/"
        return {name[len(prefix):]: count for name, count in self.inner.collections().items()
                if name.startswith(prefix)}

    def transaction(self):
        return self.inner.transaction()  # one lock for the whole store: a reset is atomic for everyone

    def check_later(self, collection, key, seen):
        return self.inner.check_later(CURRENT.get() + "/" + collection, key, seen)

    def end_check(self, verify=True):
        self.inner.end_check(verify)

    def append_log(self, log, entry, keep):
        self.inner.append_log(CURRENT.get() + "/" + log, entry, keep)

    def settle_logs(self):
        self.inner.settle_logs()

    def read_log(self, log, limit):
        return self.inner.read_log(CURRENT.get() + "/" + log, limit)

    def hit(self, window, now, seconds, count=1):
        return self.inner.hit(CURRENT.get() + "/" + window, now, seconds, count)
