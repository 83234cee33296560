"""Close's error envelope: a neutral `MockError` as the status, body and headers Close answers with."""
from __future__ import annotations

import math

from mock_server.problems import MockError, Problem
from mock_server.vendors.base import Reply

UNAUTHORIZED = (
    "The server could not verify that you are authorized to access the URL requested.  You either "
    "supplied the wrong credentials (e.g. a bad password), or your browser doesn't understand how to "
    "supply the credentials required."
)
NO_ROUTE = (
    "The requested URL was not found on the server. If you entered the URL manually please check your "
    "spelling and try again."
)
# Close names reference fields after the object in field-errors: {"lead": "Object does not exist."}
REFERENCE_FIELDS = {"lead_id": "lead", "status_id": "status", "user_id": "user", "contact_id": "contact",
                    "opportunity_id": "opportunity", "old_status_id": "old_status", "new_status_id": "new_status"}
DOES_NOT_EXIST = "Object does not exist."


def does_not_exist(field: str, key) -> Problem:
    """The field-error for a reference to an object that does not exist, named as Close names it."""
    return Problem(REFERENCE_FIELDS.get(field, field), "not_found", DOES_NOT_EXIST, key)


def error_reply(error: MockError) -> Reply:
    """The reply Close sends for `error`."""
    if error.reason == "validation":
        return Reply(400, {
            "errors": [p.message for p in error.problems if not p.field],
            "field-errors": {p.field: p.message for p in error.problems if p.field},
        })
    if error.reason == "malformed":
        return Reply(400, {"errors": [error.message], "field-errors": {}})
    if error.reason == "unauthorized":
        return Reply(401, {"error": UNAUTHORIZED})
    if error.reason == "not_found":
        return Reply(404, {"error": f"Empty query: {error.resource} matching query does not exist."})
    if error.reason == "no_route":
        return Reply(404, {"error": NO_ROUTE})
    if error.reason == "rate_limited":  # Retry-After comes with the error; RateLimit is Close's
        reset = error.details["reset"]
        return Reply(429, {"error": {"message": error.message, "rate_reset": round(reset, 2),
                                     "rate_limit": error.details["limit"], "rate_window": error.details["window"],
                                     "rate_limit_type": "key"}},
                     {"RateLimit": f"limit={error.details['limit']}, remaining=0, reset={math.ceil(reset)}"})
    return Reply(error.status, {"error": error.message})
