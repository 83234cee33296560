"""throttle: `--rate-limit 10/s`, so clients' back-off code can be tested.

A fixed window per vendor and credential, like the vendors' own per-key limits, counted in the store:
workers and hosts sharing it share the windows, so `10/s` is 10/s in total. This stage refuses
with a neutral `rate_limited`; each vendor answers it in its own way (Close 429 with `RateLimit` and
`Retry-After`, Nexudus 409 with `Retry-After`, SprintHub a 401 that says too many requests).
"""
from __future__ import annotations

import hashlib
import math
import time

from mock_server.pipeline.exchange import Exchange
from mock_server.pipeline.stage import Outcome, Stage
from mock_server.problems import MockError
from mock_server.rates import parse_rate
from mock_server.store.base import Store


class RateLimiter:
    def __init__(self, rate: str, store: Store, clock=time.time):
        parsed = parse_rate(rate)
        self.limit, self.window = parsed.count, parsed.seconds
        self.store = store
        self.clock = clock  # wall-clock time: processes on one host, and hosts kept in sync, agree on it

    def check(self, key: str) -> MockError | None:
        """Count one request for `key`; over the limit, the neutral rate_limited refusal."""
        now = self.clock()
        # The credential itself is never stored: its digest names the window.
        window = "rate:" + hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
        start, used = self.store.hit(window, now, self.window)
        if used > self.limit:
            reset = max(0.0, self.window - (now - start))
            return MockError(429, "rate_limited", "API call count exceeded for this period",
                             headers={"Retry-After": str(max(1, math.ceil(reset)))},
                             details={"limit": self.limit, "reset": reset})
        return None


class Throttle(Stage):
    name = "throttle"

    def __init__(self, mount) -> None:
        super().__init__(mount)
        self.limiter = RateLimiter(mount.settings.rate_limit, mount.vendor.store)

    @classmethod
    def build(cls, mount):
        return cls(mount) if mount.settings.rate_limit else None

    def __call__(self, exchange: Exchange) -> Outcome:
        assert exchange.principal is not None  # authenticate ran
        # Per credential, as the vendors count.
        return self.limiter.check(repr(sorted(exchange.principal.credentials.items())))
