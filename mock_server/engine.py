"""The vendor-neutral request pipeline: route → auth → validate → handle → envelope → response.

A `VendorMount` is built once per vendor at start-up (router, validators, authenticator), then
serves requests whose path starts with its prefix. Vendor modules only supply handlers and bodies.
"""
from __future__ import annotations

import logging

from werkzeug import Request, Response
from werkzeug.exceptions import RequestEntityTooLarge

from mock_server.auth import Authenticator
from mock_server import jsonio
from mock_server.journal import Journal
from mock_server.problems import MockError, validation_failed
from mock_server.ratelimit import RateLimiter
from mock_server.router import Router
from mock_server.validation import RequestValidator, problems_from
from mock_server.vendors.base import Call, Reply, Vendor

log = logging.getLogger("crm_mock")


class VendorMount:
    def __init__(self, vendor: Vendor, prefix: str, key_entries: list[dict], journal: Journal, strict: bool = False,
                 rate_limit: str | None = None):
        spec = vendor.spec
        self.vendor = vendor
        self.prefix = prefix  # e.g. "/close" when all vendors share one server, "" when alone
        self.base = prefix + spec.base_path
        self.router = Router(self.base, spec.operations)
        self.handlers = vendor.handlers()
        self.validators = {
            op.operation_id: RequestValidator(spec, op, vendor.reject_unknown_query) for op in spec.operations
        }
        self.auth = Authenticator(spec.security_schemes, key_entries, vendor.default_principal, vendor.lookup_principal)
        self.journal = journal
        self.strict = strict
        self.limiter = RateLimiter(rate_limit) if rate_limit else None
        self.response_validators = {}
        if strict:
            for op in spec.operations:
                for status in op.statuses:
                    schema = spec.response_schema(op, status)
                    if schema is not None:
                        self.response_validators[(op.operation_id, int(status))] = spec.validator(schema)

    def owns(self, path: str) -> bool:
        return path == self.base or path.startswith(self.base + "/") or (
            self.prefix != "" and (path == self.prefix or path.startswith(self.prefix + "/"))
        )

    def handle(self, request: Request) -> Response:
        op = None
        problems = []
        try:
            op, path_params = self.router.match(request.method, request.path)
            principal = self.auth.authenticate(op, request.headers)
            if self.limiter:  # per credential, as the vendors count
                self.limiter.check(repr(sorted(principal.credentials.items())))
            validator = self.validators[op.operation_id]
            path = validator.parameters("path", path_params, problems)
            query = validator.query(request.args, problems)
            validator.headers(request.headers, problems)
            try:
                raw = request.get_data(cache=False) if op.has_body else b""
            except RequestEntityTooLarge:
                raise MockError(413, "too_large", "The request body is larger than 1 MiB.") from None
            body = validator.body(request.content_type, raw, problems)
            if problems:
                raise validation_failed(problems)
            call = Call(op, path, query, body, principal, request.headers)
            reply = self.handlers[op.operation_id](call)
        except MockError as error:
            problems = error.problems
            reply = self.vendor.error_reply(error, op)
            reply.headers = {**error.headers, **reply.headers}
        except Exception:  # noqa: BLE001 - the promise is: never a stack trace to the client
            log.exception("handler failed for %s %s", request.method, request.path)
            error = MockError(500, "internal", "The mock failed to handle this request; see its log.")
            reply = self.vendor.error_reply(error, op)
        if self.strict and op is not None:
            reply = self._self_check(op, reply)
        self.journal.record(
            vendor=self.vendor.name, method=request.method, path=request.path, query=request.query_string.decode("latin-1"),
            headers=request.headers, status=reply.status, operation=op.operation_id if op else None,
            problems=problems, message=_message_of(reply),
        )
        return Response(jsonio.dumps(reply.body), reply.status, reply.headers, mimetype="application/json")

    def _self_check(self, op, reply: Reply) -> Reply:
        """Strict mode: a response the spec does not allow becomes a 500 naming what broke."""
        if str(reply.status) not in op.statuses:
            message = f"{op.operation_id} answered {reply.status}, which the spec does not document."
            return Reply(500, {"crm_mock_strict": message})
        validator = self.response_validators.get((op.operation_id, reply.status))
        if validator is None:
            return reply
        # Through JSON and back: bodies may hold pre-serialized records (list pages).
        broken = problems_from(validator.iter_errors(jsonio.loads(jsonio.dumps(reply.body))))
        if broken:
            return Reply(500, {
                "crm_mock_strict": f"{op.operation_id} {reply.status} response breaks its schema.",
                "problems": [{"field": p.field, "message": p.message} for p in broken],
            })
        return reply


def _message_of(reply: Reply) -> str | None:
    body = reply.body
    if reply.status < 400 or not isinstance(body, dict):
        return None
    for key in ("error", "msg", "Message", "crm_mock_strict"):
        if isinstance(body.get(key), str):
            return body[key]
    return jsonio.dumps(body)[:500].decode("utf-8", "replace")
