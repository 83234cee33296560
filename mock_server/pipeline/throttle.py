"""throttle: `--rate-limit 10/s`, so clients' back-off code can be tested.

A fixed window per vendor and credential, like the vendors' own per-key limits. This stage refuses
with a neutral `rate_limited`; each vendor answers it in its own way (Close 429 with `RateLimit` and
`Retry-After`, Nexudus 409 with `Retry-After`, SprintHub a 401 that says too many requests).
"""
from __future__ import annotations

import math
import threading
import time

from mock_server.pipeline.exchange import Exchange
from mock_server.pipeline.stage import Outcome, Stage
from mock_server.problems import MockError
from mock_server.rates import parse_rate


class RateLimiter:
    MAX_KEYS = 10_000  # windows kept at most: a flood of random credentials cannot grow memory

    def __init__(self, rate: str, clock=time.monotonic):
        parsed = parse_rate(rate)
        self.limit, self.window = parsed.count, parsed.seconds
        self.clock = clock
        self._windows: dict[str, tuple[float, int]] = {}  # key → (window start, requests in it)
        self._lock = threading.Lock()

    def check(self, key: str) -> MockError | None:
        """Count one request for `key`; over the limit, the neutral rate_limited refusal."""
        now = self.clock()
        with self._lock:
            start, used = self._windows.get(key, (now, 0))
            if now - start >= self.window:
                start, used = now, 0
            reset = self.window - (now - start)
            if used >= self.limit:
                return MockError(429, "rate_limited", "API call count exceeded for this period",
                                 headers={"Retry-After": str(math.ceil(reset))},
                                 details={"limit": self.limit, "reset": reset})
            if key not in self._windows and len(self._windows) >= self.MAX_KEYS:
                self._forget_expired(now)
            self._windows[key] = (start, used + 1)
        return None

    def _forget_expired(self, now: float) -> None:
        """Drop finished windows; if every window is live, drop the oldest half (they restart at 0)."""
        live = {k: w for k, w in self._windows.items() if now - w[0] < self.window}
        if len(live) >= self.MAX_KEYS:
            live = dict(sorted(live.items(), key=lambda item: item[1][0])[len(live) // 2:])
        self._windows = live

    def clear(self) -> None:
        with self._lock:
            self._windows.clear()


class Throttle(Stage):
    name = "throttle"

    def __init__(self, mount) -> None:
        super().__init__(mount)
        self.limiter = RateLimiter(mount.settings.rate_limit)

    @classmethod
    def build(cls, mount):
        return cls(mount) if mount.settings.rate_limit else None

    def reset(self) -> None:
        self.limiter.clear()

    def __call__(self, exchange: Exchange) -> Outcome:
        assert exchange.principal is not None  # authenticate ran
        # Per credential, as the vendors count.
        return self.limiter.check(repr(sorted(exchange.principal.credentials.items())))
