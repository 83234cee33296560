"""The request pipeline: named stages, each one job, composed by `runner.Pipeline`.

    limits → route → authenticate → throttle → validate → handle   (request stages)
    envelope → self_check → journal                            (response stages)

To add a stage, subclass `Stage` and place it with `insert_stage`, then hand the list to
`create_app(request_stages=...)`; see the README's "Architecture" section.
"""
from mock_server.pipeline.exchange import Call, Exchange, Reply
from mock_server.pipeline.runner import (
    DEFAULT_REQUEST_STAGES,
    DEFAULT_RESPONSE_STAGES,
    Mount,
    Pipeline,
    insert_stage,
)
from mock_server.pipeline.stage import Outcome, Stage

__all__ = [
    "DEFAULT_REQUEST_STAGES", "DEFAULT_RESPONSE_STAGES", "Call", "Exchange", "Mount", "Outcome", "Pipeline",
    "Reply", "Stage", "insert_stage",
]
