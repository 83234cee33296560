"""handle: the vendor's handler for the operation runs its rules on the store and gives a Reply.

Handlers may raise a `MockError` from deep inside vendor code (an unknown referenced ID); the
runner turns that into a refusal like any other stage's.
"""
from __future__ import annotations

from mock_server.pipeline.exchange import Exchange
from mock_server.pipeline.stage import Outcome, Stage


class Handle(Stage):
    name = "handle"

    def __init__(self, mount) -> None:
        super().__init__(mount)
        self.handlers = mount.vendor.handlers()

    def __call__(self, exchange: Exchange) -> Outcome:
        assert exchange.op is not None and exchange.call is not None  # route and validate ran
        return self.handlers[exchange.op.operation_id](exchange.call)
