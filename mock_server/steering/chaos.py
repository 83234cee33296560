"""Global chaos for soak tests: `--latency 50ms±20` on every call and `--error-rate 0.02` of calls
answered with the vendor's own 503 or throttling answer, drawn from `--seed` so a run repeats."""
from __future__ import annotations

import re
from dataclasses import dataclass

LATENCY = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(?:ms)?\s*(?:(?:±|\+-|\+/-)\s*(\d+(?:\.\d+)?)\s*(?:ms)?)?\s*")


@dataclass(frozen=True)
class Latency:
    ms: float
    jitter_ms: float = 0


def parse_latency(text: str) -> Latency:
    """"50ms±20", "50ms+-20", "50" → Latency(50, 20); a ValueError that shows the grammar otherwise."""
    found = LATENCY.fullmatch(text or "")
    if not found:
        raise ValueError(f"latency {text!r}: use milliseconds with an optional jitter, e.g. 50ms, 50ms±20 or 50+-20")
    return Latency(float(found.group(1)), float(found.group(2) or 0))


def parse_error_rate(value) -> float:
    rate = float(value)
    if not 0 <= rate <= 1:
        raise ValueError(f"error rate {value!r}: a fraction from 0 to 1, e.g. 0.02")
    return rate
