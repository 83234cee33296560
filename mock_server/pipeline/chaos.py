"""chaos (`--latency`, `--error-rate`): every call slowed, a fraction answered with the vendor's 503
or throttling answer. Built only when one of them is set."""
from __future__ import annotations

import random

from mock_server.pipeline.exchange import Exchange
from mock_server.pipeline.stage import Outcome, Stage
from mock_server.steering.chaos import parse_latency
from mock_server.steering.overrides import Fault, vendor_error


class Chaos(Stage):
    name = "chaos"

    def __init__(self, mount) -> None:
        super().__init__(mount)
        settings = mount.settings
        latency = parse_latency(settings.latency) if settings.latency else None
        self.fault = Fault(latency_ms=latency.ms, jitter_ms=latency.jitter_ms) if latency else None
        self.error_rate = settings.error_rate
        self.rng = random.Random(f"{settings.seed}/{mount.vendor.name}")  # --seed repeats the run

    @classmethod
    def build(cls, mount):
        settings = mount.settings
        return cls(mount) if settings.latency or settings.error_rate else None

    def __call__(self, exchange: Exchange) -> Outcome:
        if self.fault is not None:
            exchange.fault = self.fault  # an override's own fault, later, takes its place
        if self.error_rate and self.rng.random() < self.error_rate:
            if self.rng.random() < 0.5:
                return vendor_error({"error": "server_error", "status": 503})
            return vendor_error({"error": "rate_limited", "retry_after": 1})
        return None
