"""Politeness towards a live vendor: pace requests under a rate, wait out the vendor's throttling
answers (429; Nexudus' 409 + Retry-After; SprintHub's "too many requests" 401) and honour Close's
`RateLimit` budget header."""
from __future__ import annotations

import re
import threading
import time

from mock_server.rates import parse_rate


def header(headers, name: str) -> str | None:
    """One header from requests' case-insensitive dict or Schemathesis' lowercase dict of lists."""
    value = headers.get(name) if not isinstance(headers, dict) else headers.get(name.lower(), headers.get(name))
    if isinstance(value, list):
        value = value[0] if value else None
    return value


def throttle_wait(vendor: str, response, attempt: int) -> float | None:
    """Seconds to wait before resending, when `response` is the vendor's throttling answer; else None."""
    from mock_server.vendors import VENDOR_CLASSES

    status = response.status_code
    if status != 429 and not VENDOR_CLASSES[vendor].LIVE.throttled(status, response.headers, response.content or b""):
        return None
    return _retry_after(response.headers) or ratelimit_reset(response.headers) or float(2**attempt)


def _retry_after(headers) -> float | None:
    try:
        return max(0.0, float(header(headers, "Retry-After") or ""))
    except (TypeError, ValueError):
        return None


def ratelimit_reset(headers, when_exhausted: bool = False) -> float | None:
    """`RateLimit: limit=N, remaining=N, reset=S` (Close): the reset, or None (with `when_exhausted`,
    only when nothing remains)."""
    fields = dict(re.findall(r"(\w+)=([\d.]+)", header(headers, "RateLimit") or ""))
    if "reset" not in fields or (when_exhausted and fields.get("remaining") not in ("0", "0.0")):
        return None
    return float(fields["reset"])


class Throttle:
    """Spaces requests to at most `rate`, waits out throttling answers (up to `retries` times, at most
    `max_wait` seconds each) and pauses when a RateLimit header says the budget is spent."""

    def __init__(self, vendor: str, rate: str, retries: int = 5, max_wait: float = 60.0, sleep=time.sleep,
                 clock=time.monotonic) -> None:
        self.vendor = vendor
        self.interval = 1.0 / parse_rate(rate).per_second
        self.retries, self.max_wait = retries, max_wait
        self.sleep, self.clock = sleep, clock
        self.next_slot = 0.0
        self.throttled = 0  # throttling answers waited out
        self.lock = threading.Lock()

    def call(self, send):
        for attempt in range(self.retries + 1):
            self._wait_for_slot()
            response = send()
            self._respect_budget(response)
            wait = throttle_wait(self.vendor, response, attempt)
            if wait is None or attempt == self.retries:
                return response
            with self.lock:
                self.throttled += 1
            self.sleep(min(wait, self.max_wait))
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait_for_slot(self) -> None:
        with self.lock:
            now = self.clock()
            slot = max(self.next_slot, now)
            self.next_slot = slot + self.interval
        if slot > now:
            self.sleep(slot - now)

    def _respect_budget(self, response) -> None:
        reset = ratelimit_reset(response.headers, when_exhausted=True)
        if reset:
            with self.lock:
                self.next_slot = max(self.next_slot, self.clock() + min(reset, self.max_wait))
