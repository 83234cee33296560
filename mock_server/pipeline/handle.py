"""handle: the vendor's handler for the operation runs its rules on the store and gives a Reply.

A handler that writes runs inside one store transaction: if it refuses (raises a `MockError`) or
fails halfway, every write it made is undone, side effects included (Close's implicit lead, a
status-change activity), so a rejected request leaves the store exactly as it was.
"""
from __future__ import annotations

from mock_server.pipeline.exchange import Exchange
from mock_server.pipeline.stage import Outcome, Stage

READ_ONLY = frozenset({"GET", "HEAD", "OPTIONS"})


class Handle(Stage):
    name = "handle"

    def __init__(self, mount) -> None:
        super().__init__(mount)
        self.handlers = mount.vendor.handlers()
        self.store = mount.vendor.store

    def __call__(self, exchange: Exchange) -> Outcome:
        assert exchange.op is not None and exchange.call is not None  # route and validate ran
        handler = self.handlers[exchange.op.operation_id]
        if exchange.op.method in READ_ONLY:
            return handler(exchange.call)
        with self.store.transaction():
            return handler(exchange.call)
