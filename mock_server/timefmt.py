"""Datetimes in and out: every vendor's format from one UTC datetime, and input parsing that turns
impossible values (month 13, year 0, an offset that leaves the calendar) into a 400, not a crash."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mock_server.problems import Problem, validation_failed

INVALID = "Must be a valid ISO 8601 date-time."


def _as_utc(text: str) -> datetime:
    """ISO 8601 text as an aware UTC datetime (no zone means UTC); ValueError or OverflowError if impossible."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_utc(text: str, field: str) -> datetime:
    """`text` as an aware UTC datetime (no zone means UTC); a 400 naming `field` when impossible."""
    try:
        return _as_utc(text)
    except (ValueError, OverflowError):
        raise validation_failed([Problem(field, "format", INVALID, text)]) from None


def just_after(stamp) -> datetime | None:
    """1 ms after `stamp` (a record's last change as the vendor printed it), so its next change prints
    as later; None when `stamp` is no time (a loaded world may hold anything) or the last one there is."""
    try:
        return _as_utc(stamp) + timedelta(milliseconds=1)
    except (AttributeError, TypeError, ValueError, OverflowError):
        return None


def iso_utc(moment: datetime, timespec: str) -> str:
    """`0456-07-10T17:52:59.000000` style: zero-padded years, which strftime('%Y') does not give."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec=timespec)
