"""override: a matching override answers instead of the vendor (stage "before": nothing is stored),
or after it (stage "after": the handler ran and stored, then the client sees the override's answer
or fault). Faults are applied by the runner, when the response goes out.

With no override set this costs one store read per request (is the override list still current?),
which on PostgreSQL rides with the request's next statement instead (see OverrideBook.active).
"""
from __future__ import annotations

from mock_server.pipeline.exchange import Exchange, Reply, Text
from mock_server.pipeline.stage import Outcome, Stage
from mock_server.problems import MockError
from mock_server.steering.overrides import Override


def view_of(exchange: Exchange, base: str, vendor: str) -> dict:
    """The request as `match` sees it (see steering/matching.py)."""
    request, op, principal = exchange.request, exchange.op, exchange.principal
    return {
        "vendor": vendor, "operation": op.operation_id if op else None, "method": request.method,
        "path": request.path, "relative_path": request.path[len(base):] or "/", "template": op.path if op else None,
        "query": dict(request.args.items()), "headers": dict(request.headers.items()), "body": exchange.body,
        "credentials": tuple(principal.credentials.values()) if principal else (),
        "user": principal.user if principal else {},
    }


class OverrideBefore(Stage):
    name = "override"

    def __call__(self, exchange: Exchange) -> Outcome:
        book = self.mount.overrides
        if book is None or not book.active(check_later=not exchange.rerun):
            return None
        override = book.claim(view_of(exchange, self.mount.base, self.mount.vendor.name))
        if override is None:
            return None
        exchange.override = override
        exchange.fault = override.fault
        if override.stage == "after":
            return None  # the handler runs; OverrideAfter answers
        answer = answer_of(override)
        if answer is None and override.fault is not None and override.fault.cuts_connection:
            # Cut before the vendor saw it: what would have been sent is a 503 (never sent in full).
            return MockError(503, "server_error", "Service temporarily unavailable.")
        return answer

    def confirm(self, exchange: Exchange) -> None:
        if self.mount.overrides is not None:
            self.mount.overrides.confirm()


class OverrideAfter(Stage):
    """A response stage: for stage "after", the override's answer replaces the handler's."""

    name = "override_after"

    def __call__(self, exchange: Exchange) -> Outcome:
        override = exchange.override
        if override is None or override.stage != "after":
            return None
        answer = answer_of(override)
        if isinstance(answer, MockError):
            reply = self.mount.vendor.error_reply(answer, exchange.op)
            reply.headers = {**answer.headers, **reply.headers}
            return reply
        return answer


def answer_of(override: Override) -> Reply | MockError | None:
    refusal = override.refusal()
    if refusal is not None:
        return refusal
    literal = override.literal()
    if literal is not None:
        status, headers, body = literal
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "application/json")
        if isinstance(body, str) and "json" not in content_type.lower():
            body = Text(body)  # what a proxy or CDN answers: an HTML page, sent as it is, not a JSON string
        return Reply(status, body, headers)
    return None
