"""Vendor-neutral failures. Stages raise these; only a vendor module turns them into a body."""
from __future__ import annotations

from dataclasses import dataclass, field

MISSING = object()  # the attempted value of a field that was not sent


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request: which field, what kind of failure, a neutral message."""

    field: str
    kind: str  # required | type | enum | format | pattern | range | length | unknown | not_found | invalid
    message: str
    value: object = None
    expected: object = None  # e.g. the expected type name or the allowed values


@dataclass
class MockError(Exception):
    """A request the mock refuses. `reason` selects the vendor's body; `status` is the HTTP code."""

    status: int
    reason: str  # validation | malformed | unsupported_media_type | too_large | unauthorized |
    #              forbidden | not_found | no_route | method_not_allowed | rate_limited |
    #              headers_too_large | uri_too_long | internal
    message: str = ""
    problems: list[Problem] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    resource: str = ""  # for not_found: the kind of object ("Opportunity")
    details: dict = field(default_factory=dict)  # for rate_limited: limit, reset (seconds)

    def __str__(self) -> str:
        return self.message or self.reason


def validation_failed(problems: list[Problem], message: str = "") -> MockError:
    return MockError(400, "validation", message or "; ".join(f"{p.field}: {p.message}" for p in problems), problems)


def not_found(resource: str, message: str = "") -> MockError:
    return MockError(404, "not_found", message or f"{resource} not found", resource=resource)
