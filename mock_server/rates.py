"""One grammar for a rate, `N/s`, `N/m` or `N/h`: the mock's `--rate-limit` and the contract
harness' `--rate` (client-side pacing of a live target) both read it here."""
from __future__ import annotations

import re
from dataclasses import dataclass

UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class Rate:
    count: int  # this many calls ...
    seconds: float  # ... per this many seconds

    @property
    def per_second(self) -> float:
        return self.count / self.seconds


def parse_rate(text: str) -> Rate:
    """"10/s" → Rate(10, 1.0); "60/m" → Rate(60, 60.0); anything else is a ValueError."""
    found = re.fullmatch(r"\s*(\d+)\s*/\s*([smh])\s*", text or "")
    if not found or int(found.group(1)) < 1:
        raise ValueError(f"rate {text!r}: use N/s, N/m or N/h with a whole N >= 1")
    return Rate(int(found.group(1)), UNITS[found.group(2)])
