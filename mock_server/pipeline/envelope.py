"""envelope: a refusal becomes the vendor's own error body and headers.

Success bodies are already the vendor's (handlers build them); what is neutral until here is a
`MockError`, and only the vendor module knows its shape (`Vendor.error_reply`).
"""
from __future__ import annotations

from mock_server.pipeline.exchange import Exchange
from mock_server.pipeline.stage import Outcome, Stage


class Envelope(Stage):
    name = "envelope"

    def __call__(self, exchange: Exchange) -> Outcome:
        error = exchange.error
        if error is None:
            return None
        exchange.problems = error.problems
        reply = self.mount.vendor.error_reply(error, exchange.op)
        reply.headers = {**error.headers, **reply.headers}
        return reply
