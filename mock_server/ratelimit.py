"""Optional rate limiting (`--rate-limit 10/s`), so clients' back-off code can be tested.

A fixed window per vendor and credential, like the vendors' own per-key limits. The engine raises
a neutral `rate_limited`; each vendor answers it in its own way (Close 429 with `RateLimit` and
`Retry-After`, Nexudus 409 with `Retry-After`, SprintHub a 401 that says too many requests).
"""
from __future__ import annotations

import math
import re
import threading
import time

from mock_server.problems import MockError

UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_rate(text: str) -> tuple[int, float]:
    """"10/s" → (10, 1.0); "60/m" → (60, 60.0)."""
    found = re.fullmatch(r"\s*(\d+)\s*/\s*([smh])\s*", text or "")
    if not found or int(found.group(1)) < 1:
        raise ValueError(f"rate limit {text!r}: use N/s, N/m or N/h with N >= 1")
    return int(found.group(1)), UNITS[found.group(2)]


class RateLimiter:
    def __init__(self, rate: str, clock=time.monotonic):
        self.limit, self.window = parse_rate(rate)
        self.clock = clock
        self._windows: dict[str, tuple[float, int]] = {}  # key → (window start, requests in it)
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        """Count one request for `key`; over the limit, raise the neutral rate_limited error."""
        now = self.clock()
        with self._lock:
            start, used = self._windows.get(key, (now, 0))
            if now - start >= self.window:
                start, used = now, 0
            reset = self.window - (now - start)
            if used >= self.limit:
                raise MockError(429, "rate_limited", "API call count exceeded for this period",
                                headers={"Retry-After": str(math.ceil(reset))},
                                details={"limit": self.limit, "reset": reset})
            self._windows[key] = (start, used + 1)
