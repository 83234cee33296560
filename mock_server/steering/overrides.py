"""Overrides: "the next create fails with Close's 503", "this call takes 3 s", "drop the connection
after the write". Each is a match, an answer (`respond`: a literal response or a named vendor error)
and/or a `fault`, a `stage` (before the handler: nothing stored; after it: stored, then the client
sees the fault), `times` and `priority`.

Overrides live in the store (collection `__mock.overrides`), so `times: 1` fires exactly once across
every worker sharing it; each process keeps a parsed copy, refreshed when the store's override
version moves.
"""
from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mock_server import jsonio
from mock_server.problems import MockError, Problem
from mock_server.spec import Spec
from mock_server.steering.matching import BadMatch, Match, kept_form, parse_match
from mock_server.store import Store
from mock_server.store.namespaced import CURRENT as NAMESPACE

COLLECTION = "__mock.overrides"
META, VERSION = "__mock.meta", "overrides"  # a random token, new on every change (a reset clears it)
STAGES = ("before", "after")
FIELDS = ("id", "match", "respond", "fault", "stage", "times", "priority")
ERRORS = ("validation", "unauthorized", "forbidden", "not_found", "rate_limited", "server_error")
SERVER_ERROR_STATUSES = (500, 502, 503, 504)
FAULT_FIELDS = ("latency_ms", "jitter_ms", "drop", "reset", "timeout_s", "truncated")
CUTS = ("drop", "reset", "timeout_s", "truncated")  # at most one way to end the connection


@dataclass(frozen=True)
class Fault:
    latency_ms: float = 0
    jitter_ms: float = 0
    drop: bool = False  # close the connection without an answer
    reset: bool = False  # TCP reset
    timeout_s: float = 0  # hold the connection open this long, then close it unanswered
    truncated: bool = False  # send part of the body, then close

    @property
    def cuts_connection(self) -> bool:
        return self.drop or self.reset or self.truncated or self.timeout_s > 0


@dataclass(frozen=True)
class Override:
    id: str
    match: Match
    respond: Mapping | None
    fault: Fault | None
    stage: str = "before"
    times: int | None = None
    priority: int = 0
    raw: Mapping = field(default_factory=dict, compare=False)

    def refusal(self) -> MockError | None:
        """A named vendor error as the neutral refusal the vendor's envelope renders."""
        if not self.respond or "error" not in self.respond:
            return None
        return vendor_error(self.respond)

    def literal(self) -> tuple[int, dict, Any] | None:
        if not self.respond or "error" in self.respond:
            return None
        return int(self.respond.get("status", 200)), dict(self.respond.get("headers") or {}), self.respond.get("body")


def vendor_error(respond: Mapping) -> MockError:
    name = respond["error"]
    message = respond.get("message")
    if name == "validation":
        field_name = respond.get("field", "")
        text = message or "Invalid value."
        return MockError(400, "validation", text, [Problem(field_name, "invalid", text)])
    if name == "unauthorized":
        return MockError(401, "unauthorized", message or "The credentials are not valid.")
    if name == "forbidden":
        return MockError(403, "forbidden", message or "The caller lacks the role this needs.")
    if name == "not_found":
        resource = respond.get("resource", "Object")
        return MockError(404, "not_found", message or f"{resource} not found", resource=resource)
    if name == "rate_limited":  # exactly what --rate-limit answers
        reset = float(respond.get("retry_after", 1))
        return MockError(429, "rate_limited", message or "API call count exceeded for this period",
                         headers={"Retry-After": str(int(reset) if reset == int(reset) else reset)},
                         details={"limit": int(respond.get("limit", 1)), "reset": reset,
                                  "window": max(reset, 1.0)})
    status = int(respond.get("status", 503))
    return MockError(status, "server_error", message or _SERVER_ERROR_TEXT.get(status, "Server error."))


_SERVER_ERROR_TEXT = {500: "Internal server error.", 502: "Bad gateway.", 503: "Service temporarily unavailable.",
                      504: "Gateway timeout."}


# -- parsing, with messages that name the field and the valid values -------------------------------------
def parse_override(raw, specs: Mapping[str, Spec]) -> Override:
    if not isinstance(raw, Mapping):
        raise BadMatch("an override must be a JSON object with match, respond and/or fault")
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        raise BadMatch(f"{unknown[0]}: unknown field; the fields are {', '.join(FIELDS)}")
    for name in FIELDS:  # (a YAML scenario has .inf and .nan; JSON has neither)
        problem = jsonio.unstorable(raw.get(name), name)
        if problem:
            raise BadMatch(problem)
    match = parse_match(raw.get("match"), specs, override=True)
    respond = _respond(raw.get("respond"))
    fault = _fault(raw.get("fault"))
    if respond is None and fault is None:
        raise BadMatch("an override needs `respond` (a response or a vendor error) or `fault`, or both")
    stage = raw.get("stage", "before")
    if stage not in STAGES:
        raise BadMatch(f"stage: {stage!r} is not one of {', '.join(STAGES)}")
    times = raw.get("times")
    if times is not None and (not _is_int(times) or times < 1):
        raise BadMatch("times: a whole number from 1, or null for every time")
    priority = raw.get("priority", 0)
    if not _is_int(priority):
        raise BadMatch("priority: a whole number (higher wins; ties: the newest)")
    override_id = raw.get("id") or "ovr_" + secrets.token_hex(6)
    if not isinstance(override_id, str) or not override_id.replace("_", "").replace("-", "").isalnum():
        raise BadMatch("id: letters, digits, - and _ only")
    kept = dict(raw, id=override_id)  # what the store keeps: never a credential in clear
    if "match" in raw:
        kept["match"] = kept_form(raw["match"])
    return Override(override_id, match, respond, fault, stage, times, priority, kept)


BOOKKEEPING = ("hits", "remaining", "seq")  # what the book keeps beside an override's own fields


def stored_problem(key, record: Mapping, specs: Mapping[str, Spec]) -> str | None:
    """What keeps a stored override (a snapshot file's) from being used, or None: it must be one
    POST /__mock/overrides takes, under its own ID, with the book's counts. Every request of the
    namespace reads them all, so one bad record was a 500 for each until a reset."""
    unknown = sorted(set(record) - {*FIELDS, *BOOKKEEPING})
    if unknown:
        return f"{unknown[0]}: unknown field; a stored override has {', '.join((*FIELDS, *BOOKKEEPING))}"
    try:
        override = parse_override({k: record[k] for k in FIELDS if k in record}, specs)
    except BadMatch as error:
        return str(error)
    if record.get("id") != key:
        return f"id: {record.get('id')!r}, but it is stored as {key!r}"
    if not _is_int(record.get("seq")):
        return "seq: a whole number (the order overrides were set in)"
    if not _is_int(record.get("hits")) or record["hits"] < 0:
        return "hits: a whole number from 0"
    remaining = record.get("remaining")
    if remaining is not None and (not _is_int(remaining) or remaining < 0 or
                                  override.times is not None and remaining > override.times):
        return "remaining: a whole number from 0 to times, or null when times is"
    return None


def _respond(raw) -> Mapping | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise BadMatch("respond: an object: {status, headers, body} or {error: name, ...}")
    if "error" in raw:
        if raw["error"] not in ERRORS:
            raise BadMatch(f"respond.error: {raw['error']!r} is not one of {', '.join(ERRORS)}")
        allowed = {"error", "message", "field", "resource", "status", "retry_after", "limit"}
        unknown = sorted(set(raw) - allowed)
        if unknown:
            raise BadMatch(f"respond.{unknown[0]}: unknown field; with error: {', '.join(sorted(allowed))}")
        if raw["error"] == "server_error" and raw.get("status", 503) not in SERVER_ERROR_STATUSES:
            raise BadMatch(f"respond.status: a server_error is one of {', '.join(map(str, SERVER_ERROR_STATUSES))}")
        for name in ("message", "field", "resource"):
            if name in raw and not isinstance(raw[name], str):
                raise BadMatch(f"respond.{name}: a string")
        for name, low in (("retry_after", 0), ("limit", 1)):
            value = raw.get(name, low)
            if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= 86_400:
                raise BadMatch(f"respond.{name}: a number from {low} to 86400")
        return dict(raw)
    unknown = sorted(set(raw) - {"status", "headers", "body"})
    if unknown:
        raise BadMatch(f"respond.{unknown[0]}: unknown field; a literal response has status, headers, body")
    status = raw.get("status", 200)
    # 1xx is not a final answer: 100 closed the connection unanswered, 101 switched to no protocol.
    if not _is_int(status) or not 200 <= status <= 599:
        raise BadMatch("respond.status: a whole number from 200 to 599")
    headers = raw.get("headers") or {}
    if not isinstance(headers, Mapping):
        raise BadMatch("respond.headers: an object of header names and string values")
    for name, value in headers.items():
        problem = _header_problem(name, value)
        if problem:
            raise BadMatch(f"respond.headers: {problem}")
    return dict(raw)


# RFC 9110 §5.1 and §5.5: a name is a token; a value is visible ASCII, spaces, tabs and Latin-1
# (obs-text). Anything else passed the check before and made the server answer every matching
# request with its own bare 500 (WSGI headers are Latin-1 strings).
HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
HEADER_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")


def _header_problem(name, value) -> str | None:
    if not isinstance(name, str) or not HEADER_NAME.fullmatch(name):
        return (f"{str(name)[:40]!r} is not a header name: letters, digits and !#$%&'*+-.^_`|~ only "
                "(RFC 9110), no spaces")
    if not isinstance(value, str):
        return f"{name}: the value must be a string"
    if not HEADER_VALUE.fullmatch(value):
        return (f"{name}: the value must be Latin-1 text without line breaks or control characters "
                "(visible ASCII is safest)")
    return None


def _fault(raw) -> Fault | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise BadMatch(f"fault: an object with some of {', '.join(FAULT_FIELDS)}")
    unknown = sorted(set(raw) - set(FAULT_FIELDS))
    if unknown:
        raise BadMatch(f"fault.{unknown[0]}: unknown field; the fault fields are {', '.join(FAULT_FIELDS)}")
    for name in ("latency_ms", "jitter_ms", "timeout_s"):
        value = raw.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 600_000:
            raise BadMatch(f"fault.{name}: a number of {'seconds' if name == 'timeout_s' else 'milliseconds'} "
                           "from 0 (at most 600000)")
    for name in ("drop", "reset", "truncated"):
        if not isinstance(raw.get(name, False), bool):
            raise BadMatch(f"fault.{name}: true or false")
    if sum(1 for name in CUTS if raw.get(name)) > 1:
        raise BadMatch(f"fault: at most one of {', '.join(CUTS)}")
    return Fault(**{k: raw[k] for k in FAULT_FIELDS if k in raw})


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# -- the book: overrides in the store, a parsed copy per process ------------------------------------------
class OverrideBook:
    def __init__(self, store: Store, specs: Mapping[str, Spec]) -> None:
        self.store = store
        self.specs = specs
        self._lock = threading.Lock()
        # namespace → (version record, its parsed overrides best first as (override, seq))
        self._parsed: dict[str, tuple[dict | None, list[tuple[Override, int]]]] = {}

    def add(self, raw) -> dict:
        override = parse_override(raw, self.specs)
        with self.store.transaction():
            seq = self.store.next_value(COLLECTION)
            record = {**override.raw, "stage": override.stage, "times": override.times, "priority": override.priority,
                      "hits": 0, "remaining": override.times, "seq": seq}
            if self.store.get(COLLECTION, override.id) is not None:
                self.store.replace(COLLECTION, override.id, record)
            else:
                self.store.insert(COLLECTION, override.id, record)
            self._changed()
        return record

    def _changed(self) -> None:
        """Every process drops its parsed copy at its next request (random: never repeats)."""
        record = {"id": VERSION, "version": secrets.token_hex(8)}
        if self.store.get(META, VERSION) is None:
            self.store.insert(META, VERSION, record)
        else:
            self.store.replace(META, VERSION, record)

    def listed(self) -> list[dict]:
        return sorted(self.store.all(COLLECTION), key=lambda r: r["seq"])

    def remove(self, override_id: str | None = None) -> int:
        with self.store.transaction():
            ids = [override_id] if override_id else [r["id"] for r in self.store.all(COLLECTION)]
            removed = sum(1 for i in ids if self.store.delete(COLLECTION, i))
            self._changed()
        return removed

    def active(self, check_later: bool = False) -> list[tuple[Override, int]]:
        """The parsed overrides, refreshed when another request or worker changed them.

        `check_later`: where the store can (PostgreSQL), the version this copy was parsed at is not
        read now but checked with the request's next statement, one round trip fewer per request;
        if it moved, that raises `Stale` and the request is answered again (see Stage.confirm)."""
        namespace = NAMESPACE.get()
        known = self._parsed.get(namespace)
        if check_later and known is not None and self.store.check_later(META, VERSION, known[0]):
            return known[1]
        meta = self.store.get(META, VERSION)
        if known is None or known[0] != meta:
            with self._lock:
                rows = [r for r in self.store.all(COLLECTION) if r.get("remaining") != 0]
                parsed = [(parse_override({k: r[k] for k in FIELDS if k in r}, self.specs), r["seq"])
                          for r in rows]
                parsed.sort(key=lambda item: (item[0].priority, item[1]), reverse=True)
                known = self._parsed[namespace] = (meta, parsed)
        return known[1]

    def confirm(self) -> None:
        """Check the version `active(check_later=True)` relied on, if no statement has yet."""
        self.store.end_check()

    def claim(self, view: Mapping) -> Override | None:
        """The best override matching `view` that still has a use left; counts the hit."""
        candidates = self.active()
        if not candidates:
            return None
        for override, _seq in candidates:
            if not override.match.matches(view):
                continue
            with self.store.transaction():  # re-read: another worker may have used the last one
                record = self.store.get(COLLECTION, override.id)
                if record is None or record.get("remaining") == 0:
                    continue
                remaining = record.get("remaining")
                record = {**record, "hits": record["hits"] + 1,
                          "remaining": None if remaining is None else remaining - 1}
                self.store.replace(COLLECTION, override.id, record)
                if record["remaining"] == 0:
                    self._changed()  # used up: every process drops it from its copy
            return override
        return None
