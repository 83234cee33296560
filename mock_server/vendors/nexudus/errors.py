"""Nexudus' error envelopes: a neutral `MockError` as the `Reply` Nexudus would send."""
from __future__ import annotations

import json

from mock_server.problems import MISSING, MockError, Problem
from mock_server.vendors.base import Reply

DENIED = "Authorization has been denied for this request."
THROTTLED = "You must wait before accessing this url again."
REQUIRED = "is a required field"  # the seed's wording; Message reads "NewCrmBoardColumnId: is a required field"
OAUTH_ERRORS = ("invalid_grant", "unsupported_grant_type", "invalid_request")


def error_reply(error: MockError, op) -> Reply:
    if op is not None and op.operation_id == "issueToken" and error.status in (400, 415):
        return _oauth_reply(error)  # the spec gives the token endpoint no 415: JSON is a bad grant
    if error.reason == "validation":
        return Reply(400, _failure([_validation_error(p) for p in error.problems]))
    if error.reason == "malformed":
        return Reply(400, _failure([], error.message))
    if error.reason == "not_found":
        return Reply(404, _failure([], f"{error.resource} not found."))
    if error.reason in ("unauthorized", "forbidden"):
        return Reply(error.status, {"Message": DENIED})  # ASP.NET's wording for both
    if error.reason == "rate_limited":
        return Reply(409, {"Message": THROTTLED})  # with the error's Retry-After
    return Reply(error.status, {"Message": error.message})


def _failure(errors: list[dict], message: str = "") -> dict:
    """The validation envelope; its Message summarises the first error, as the spec says."""
    if not message and errors:
        first = errors[0]
        message = f"{first['PropertyName']}: {first['Message']}" if first["PropertyName"] else first["Message"]
    return {"Message": message, "Value": None, "Errors": errors, "WasSuccessful": False}


def _validation_error(problem: Problem) -> dict:
    value = None if problem.value is MISSING else problem.value
    message = problem.message
    # A null or missing value for a required field reads as missing in Nexudus, not as a type error.
    if problem.kind == "required" or (problem.kind == "type" and value is None):
        message = REQUIRED
    elif problem.kind == "type" and problem.field:
        shown = value if isinstance(value, str) else json.dumps(value)
        message = f"The value '{shown}' is not valid for {problem.field}."
    return {"AttemptedValue": value, "Message": message, "PropertyName": problem.field}


def _oauth_reply(error: MockError) -> Reply:
    """Every 400 of the token endpoint is an RFC 6749 body; a JSON body is not even read."""
    if error.reason in OAUTH_ERRORS:
        kind, description = error.reason, error.message
    elif error.reason == "validation" and all(p.field != "grant_type" for p in error.problems):
        kind, description = "invalid_request", error.message
    else:
        kind, description = "unsupported_grant_type", "The grant_type parameter is missing or not supported."
    return Reply(400, {"error": kind, "error_description": description})
