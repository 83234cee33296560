"""Verification against the journal: which requests matched, and when a count does not hold, the
nearest requests that did not match with what differed (WireMock's near misses)."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from mock_server.spec import Spec
from mock_server.steering.matching import BadMatch, Match, parse_match

NEAR_MISSES = 3


def select(journal, match: Match, status: int | None = None, since: str | None = None,
           entries: list[dict] | None = None) -> list[dict]:
    """The entries matching; `status` an HTTP status, `since` an ISO 8601 time (entries at or after it)."""
    if status is not None and (isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599):
        raise BadMatch(f"status: an HTTP status from 100 to 599, not {status!r}")
    after = _moment(since)
    return [entry for entry in (journal.entries() if entries is None else entries)
            if (status is None or entry["status"] == status)
            and (after is None or datetime.fromisoformat(entry["time"]) >= after)
            and match.matches(journal.view(entry))]


def _moment(since) -> datetime | None:
    if since is None:
        return None
    try:
        moment = datetime.fromisoformat(str(since).replace("Z", "+00:00"))
    except ValueError:
        raise BadMatch(f"since: an ISO 8601 time such as 2026-12-01T15:04:05Z, not {since!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def verify(journal, raw, specs: Mapping[str, Spec]) -> tuple[bool, dict]:
    """(holds?, the answer body) for `{"match": ..., "count": n}` or `{"min": n}` / `{"max": n}`."""
    if not isinstance(raw, Mapping):
        raise BadMatch("verify: a JSON object with match and count, or min and/or max")
    unknown = sorted(set(raw) - {"match", "count", "min", "max", "status", "since"})
    if unknown:
        raise BadMatch(f"{unknown[0]}: unknown field; verify takes match, count, min, max, status, since")
    match = parse_match(raw.get("match"), specs)
    bounds = {k: raw[k] for k in ("count", "min", "max") if raw.get(k) is not None}
    for name, value in bounds.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise BadMatch(f"{name}: a whole number from 0")
    if "count" in bounds and len(bounds) > 1:
        raise BadMatch("count: give count, or min and/or max, not both")
    low, high = (bounds["count"], bounds["count"]) if "count" in bounds else (bounds.get("min", 1), bounds.get("max"))
    entries = journal.entries()  # one snapshot: matches and near misses come from the same list
    matched = select(journal, match, raw.get("status"), raw.get("since"), entries)
    holds = len(matched) >= low and (high is None or len(matched) <= high)
    expected = f"exactly {low}" if low == high else f"at least {low}" + (f" and at most {high}" if high is not None else "")
    answer = {"ok": holds, "count": len(matched), "expected": expected, "match": match.as_dict()}
    if not holds:
        answer["near_misses"] = near_misses(journal, match, entries)
    return holds, answer


def near_misses(journal, match: Match, entries: list[dict]) -> list[dict]:
    """The requests closest to matching (fewest differences, newest first), with what differed;
    requests that match are not misses."""
    scored = []
    for order, entry in enumerate(entries):
        differences = match.differences(journal.view(entry))
        if not differences:
            continue
        scored.append((len(differences), -order, entry, differences))
    scored.sort(key=lambda item: (item[0], item[1]))
    return [{"request": {k: entry.get(k) for k in ("time", "vendor", "operation", "method", "path", "query", "body",
                                                     "status")},
             "differences": differences} for _, _, entry, differences in scored[:NEAR_MISSES]]
