"""throttle: `--rate-limit 10/s`, so clients' back-off code can be tested.

A fixed window per vendor and credential, like the vendors' own per-key limits, counted in the store:
workers and hosts sharing it share the windows, so `10/s` is 10/s in total. A process claims calls
from the shared window in leases of 1% of the limit (1 for limits under 200), so a high limit costs
one store write per lease instead of one per call; the price is that a lease another process has not
used up yet may refuse a call early, by at most 1% of the limit per process. This stage refuses
with a neutral `rate_limited`; each vendor answers it in its own way (Close 429 with `RateLimit` and
`Retry-After`, Nexudus 409 with `Retry-After`, SprintHub a 401 that says too many requests).
"""
from __future__ import annotations

import hashlib
import math
import threading
import time

from mock_server.pipeline.exchange import Exchange
from mock_server.pipeline.stage import Outcome, Stage
from mock_server.problems import MockError
from mock_server.rates import parse_rate
from mock_server.store.base import Store
from mock_server.store.namespaced import CURRENT as NAMESPACE


class RateLimiter:
    MAX_LEASES = 10_000  # leases kept per process: a flood of random credentials cannot grow memory

    def __init__(self, rate: str, store: Store, clock=time.time):
        parsed = parse_rate(rate)
        self.limit, self.window = parsed.count, parsed.seconds
        self.lease = max(1, self.limit // 100)
        self.store = store
        self.clock = clock  # wall-clock time: processes on one host, and hosts kept in sync, agree on it
        self._leases: dict[tuple[str, str], tuple[float, int]] = {}  # (namespace, window) → (start, calls left)
        self._lock = threading.Lock()

    def check(self, key: str) -> MockError | None:
        """Count one request for `key`; over the limit, the neutral rate_limited refusal."""
        now = self.clock()
        # The credential itself is never stored: its digest names the window.
        window = "rate:" + hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
        held = (NAMESPACE.get(), window)
        with self._lock:
            start, left = self._leases.get(held, (0.0, 0))
            if left > 0 and now - start < self.window:
                self._leases[held] = (start, left - 1)
                return None
        start, used = self.store.hit(window, now, self.window, self.lease)
        granted = min(self.lease, self.limit - (used - self.lease))
        if granted <= 0:
            reset = max(0.0, self.window - (now - start))
            return MockError(429, "rate_limited", "API call count exceeded for this period",
                             headers={"Retry-After": str(max(1, math.ceil(reset)))},
                             details={"limit": self.limit, "reset": reset, "window": self.window})
        if granted > 1:
            with self._lock:
                if len(self._leases) >= self.MAX_LEASES:
                    self._leases.clear()  # unused leases only ever refuse early, never admit too much
                self._leases[held] = (start, granted - 1)
        return None

    def clear(self) -> None:
        with self._lock:
            self._leases.clear()


class Throttle(Stage):
    name = "throttle"

    def __init__(self, mount) -> None:
        super().__init__(mount)
        self.limiter = RateLimiter(mount.settings.rate_limit, mount.vendor.store)

    @classmethod
    def build(cls, mount):
        return cls(mount) if mount.settings.rate_limit else None

    def reset(self) -> None:
        self.limiter.clear()

    def __call__(self, exchange: Exchange) -> Outcome:
        assert exchange.principal is not None  # authenticate ran
        # Per credential, as the vendors count.
        return self.limiter.check(repr(sorted(exchange.principal.credentials.items())))
