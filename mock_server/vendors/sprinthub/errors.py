"""SprintHub's error envelopes: a neutral `MockError` as the `{"msg"}` create and auth answer, or the
update's `{"error": "Invalid request"}`."""
from __future__ import annotations

from mock_server.problems import MockError
from mock_server.vendors.base import Reply

INVALID_REQUEST = "Invalid request"  # the update's one documented error text
# The spec documents 200/400/401/413/415 only: refusals SprintHub has no status for fold into those.
FOLDED_STATUS = {"not_found": 400, "forbidden": 401, "rate_limited": 401}
TOO_MANY_REQUESTS = "Too many requests, please try again later."  # VENDOR-NOTES: a 401, not a 429
QUERY_LABELS = {"id": "id (funnel ID, query)", "i": "i (instance, query)"}


def error_reply(error: MockError, op) -> Reply:
    """The body SprintHub answers `error` with; `op` is None when no operation matched the request."""
    status = error.status if op is None else FOLDED_STATUS.get(error.reason, error.status)
    if status == 401:
        return Reply(401, {"msg": _unauthorized_message(error)})
    if op is not None and op.operation_id == "updateOpportunity":
        # The seed's update error: one fixed text for every 400; 413/415 keep the shape.
        return Reply(status, {"error": INVALID_REQUEST if status == 400 else error.message})
    return Reply(status, {"msg": _message(error)})


def _message(error: MockError) -> str:
    """A `msg` naming each field and what is wrong with it (query parameters say so)."""
    if error.reason == "validation" and error.problems:
        return "; ".join(f"{QUERY_LABELS.get(p.field, p.field)}: {p.message}" for p in error.problems)
    if error.reason == "method_not_allowed":
        return f"{error.message} Allowed: {error.headers.get('Allow', 'none')}."
    return error.message


def _unauthorized_message(error: MockError) -> str:
    if error.reason == "rate_limited":
        return TOO_MANY_REQUESTS
    return (f"Unauthorized: {error.message} Send both `Authorization: Bearer <token>` and "
            "`apitoken: <token>` headers.")
