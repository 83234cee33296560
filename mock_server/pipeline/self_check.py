"""self_check (`--strict`): a response the spec does not allow becomes a 500 naming what broke."""
from __future__ import annotations

from mock_server import jsonio
from mock_server.pipeline.exchange import Exchange, Reply
from mock_server.pipeline.schema_problems import problems_from
from mock_server.pipeline.stage import Outcome, Stage


class SelfCheck(Stage):
    name = "self_check"

    def __init__(self, mount) -> None:
        super().__init__(mount)
        spec = mount.vendor.spec
        self.validators = {}
        for op in spec.operations:
            for status in op.statuses:
                schema = spec.response_schema(op, status)
                if schema is not None:
                    self.validators[(op.operation_id, int(status))] = spec.validator(schema)

    @classmethod
    def build(cls, mount):
        return cls(mount) if mount.settings.strict else None

    def __call__(self, exchange: Exchange) -> Outcome:
        op, reply = exchange.op, exchange.reply
        if op is None or reply is None:
            return None
        if str(reply.status) not in op.statuses:
            return Reply(500, {"crm_mock_strict": f"{op.operation_id} answered {reply.status}, "
                                                  "which the spec does not document."})
        validator = self.validators.get((op.operation_id, reply.status))
        if validator is None:
            return None
        # Through JSON and back: bodies may hold pre-serialized records (list pages).
        broken = problems_from(validator.iter_errors(jsonio.loads(jsonio.dumps(reply.body))))
        if broken:
            return Reply(500, {
                "crm_mock_strict": f"{op.operation_id} {reply.status} response breaks its schema.",
                "problems": [{"field": p.field, "message": p.message} for p in broken],
            })
        return None
