"""Vendor checks: what each vendor promises beyond its OpenAPI document, written once.

Schemathesis' built-in checks judge a response against the spec. These judge it against the
vendor's own conventions (VENDOR-NOTES), so they also catch a spec that drifted along with the
server. They are registered with Schemathesis by name and run next to the built-in checks.

Each check acts only on schemas the harness loaded (tagged with `VENDOR_KEY`) and skips what it
does not understand (a non-JSON body is content_type_conformance's job).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime

import schemathesis

# The harness tags each loaded spec document with its vendor under this extension key.
VENDOR_KEY = "x-crm-mock-vendor"
# What a check returns when the response is not its business: Schemathesis then records no
# verdict, so a Close run's report does not list Nexudus checks as passed.
SKIP = True

CLOSE_ID = {
    "oppo": r"[A-Za-z0-9]{43}", "lead": r"[A-Za-z0-9]{43}", "user": r"[A-Za-z0-9]{43}",
    "stat": r"[A-Za-z0-9]{43}", "acti": r"[A-Za-z0-9]{43}", "orga": r"[A-Za-z0-9]{43}",
    "cont": r"[A-Za-z0-9]{43}", "pipe": r"[A-Za-z0-9]{22}",
}
# Which prefix a Close key's ID must carry; `id` may be any object's ID.
CLOSE_ID_KEYS = {
    "lead_id": "lead", "user_id": "user", "created_by": "user", "updated_by": "user",
    "status_id": "stat", "new_status_id": "stat", "old_status_id": "stat", "organization_id": "orga",
    "contact_id": "cont", "opportunity_id": "oppo", "pipeline_id": "pipe",
}
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
INT32_MAX = 2**31 - 1


def vendor_of(case) -> str | None:
    return case.operation.schema.raw_schema.get(VENDOR_KEY)


def operation_id(case) -> str:
    return case.operation.definition.raw.get("operationId", "")


def json_object(response) -> dict | None:
    """The body as a JSON object, or None when it is not one."""
    try:
        body = response.json()
    except Exception:  # noqa: BLE001 - not JSON at all: another check's business
        return None
    return body if isinstance(body, dict) else None


def is_success(response) -> bool:
    return 200 <= response.status_code < 300


# -- error bodies ----------------------------------------------------------------------------------
@schemathesis.check
def vendor_error_body(ctx, response, case):
    """An error carries a message in the vendor's shape: Close `field-errors`/`errors` on 400 and
    `error` otherwise; Nexudus `Message` (RFC 6749 `error` on /token); SprintHub `msg` or `error`."""
    vendor = vendor_of(case)
    if vendor is None or response.status_code < 400:
        return SKIP
    body = json_object(response)
    if body is None:
        return SKIP
    status = response.status_code
    if vendor == "close":
        if status == 400:
            assert "error" not in body, "Close 400 bodies carry `errors`/`field-errors`, never a top-level `error`"
            assert isinstance(body.get("errors"), list) and isinstance(body.get("field-errors"), dict), (
                "Close 400 body lacks `errors` (list) or `field-errors` (object)")
            assert body["errors"] or body["field-errors"], "Close 400 body names no error: both lists are empty"
        else:
            error = body.get("error")
            assert (isinstance(error, str) and error) or (isinstance(error, dict) and error.get("message")), (
                f"Close {status} body has no `error` message")
    elif vendor == "nexudus":
        if operation_id(case) == "issueToken" and status == 400:
            assert isinstance(body.get("error"), str) and "error_description" in body, (
                "Nexudus /token 400 is not an OAuth2 error body (`error`, `error_description`)")
        else:
            assert isinstance(body.get("Message"), str) and body["Message"], f"Nexudus {status} body has no `Message`"
    elif vendor == "sprinthub":
        message = body.get("msg", body.get("error"))
        assert isinstance(message, str) and message, f"SprintHub {status} body has neither `msg` nor `error`"


# -- Nexudus envelope ------------------------------------------------------------------------------
@schemathesis.check
def nexudus_action_result(ctx, response, case):
    """Nexudus' `WasSuccessful` agrees with the HTTP status, `Errors` is null on success and lists
    the reasons otherwise, and an ActionResult's `Status` repeats the HTTP status."""
    if vendor_of(case) != "nexudus":
        return SKIP
    body = json_object(response)
    if body is None or "WasSuccessful" not in body:
        return SKIP
    ok, status = body["WasSuccessful"], response.status_code
    if ok is True:
        assert 200 <= status < 300, f"WasSuccessful is true on a {status}"
        assert body.get("Errors") is None, "WasSuccessful is true but `Errors` is not null"
    else:
        assert ok is False, f"WasSuccessful is {ok!r}, not a boolean"
        assert isinstance(body.get("Errors"), list), "WasSuccessful is false but `Errors` is not a list"
        if 200 <= status < 300:
            assert body["Errors"], f"WasSuccessful is false on a {status} without any `Errors` saying why"
    if "Status" in body:
        assert body["Status"] == status, f"`Status` says {body['Status']} but the HTTP status is {status}"


# -- IDs ---------------------------------------------------------------------------------------------
@schemathesis.check
def vendor_id_format(ctx, response, case):
    """IDs in a success body have the vendor's format: Close `prefix_` + 43 characters (the prefix
    matching the key), Nexudus int32 `…Id` (record `Id` ≥ 1) and UUID `UniqueId`, SprintHub IDs ≥ 1."""
    vendor = vendor_of(case)
    if vendor is None or not is_success(response):
        return SKIP
    body = json_object(response)
    if body is None:
        return SKIP
    problems = [f"`{path}` = {value!r}: {why}" for path, value, why in _bad_ids(vendor, body, "")]
    assert not problems, "IDs not in the vendor's format: " + "; ".join(problems[:5])


def _bad_ids(vendor: str, node, path: str):
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield from _bad_ids(vendor, item, f"{path}/{i}")
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        where = f"{path}/{key}"
        if vendor == "sprinthub" and key == "fields":
            continue  # custom fields: the caller's names and values
        why = None if value is None else _id_problem(vendor, key, value)
        if why:
            yield where, value, why
        yield from _bad_ids(vendor, value, where)


def _id_problem(vendor: str, key: str, value) -> str | None:
    if vendor == "close":
        prefix = CLOSE_ID_KEYS.get(key)
        if key != "id" and prefix is None:
            return None
        prefixes = [prefix] if prefix else list(CLOSE_ID)
        if isinstance(value, str) and any(re.fullmatch(f"{p}_{CLOSE_ID[p]}", value) for p in prefixes):
            return None
        return f"expected {'|'.join(prefixes)}_ + {'22' if prefixes == ['pipe'] else '43'} letters/digits"
    if vendor == "nexudus":
        if key == "UniqueId":
            return None if isinstance(value, str) and UUID.match(value) else "expected a UUID"
        if key == "SystemId" or not key.endswith("Id"):
            return None  # SystemId is the customer's free-form external reference
        low = 1 if key == "Id" else -INT32_MAX - 1
        if isinstance(value, int) and not isinstance(value, bool) and low <= value <= INT32_MAX:
            return None
        return f"expected an int32{' ≥ 1' if low == 1 else ''}"
    if vendor == "sprinthub" and (key == "id" or key.endswith("_id")) and key != "_id":
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return None
        return "expected an integer ≥ 1"
    return None


# -- list envelopes ------------------------------------------------------------------------------------
@schemathesis.check
def list_envelope(ctx, response, case):
    """A page agrees with itself and with the request: Close `data` + `has_more` (and `total_results`),
    no more than `_limit`; Nexudus `Records` with consistent paging fields for the `page`/`size` asked."""
    vendor = vendor_of(case)
    if vendor is None or case.method.upper() != "GET" or not is_success(response):
        return SKIP
    body = json_object(response)
    if body is None:
        return SKIP
    query = case.query or {}
    if vendor == "close" and isinstance(body.get("data"), list):
        data = body["data"]
        assert isinstance(body.get("has_more"), bool), "Close list has no boolean `has_more`"
        limit, skip = _int(query.get("_limit"), 100), _int(query.get("_skip"), 0)
        assert len(data) <= limit, f"{len(data)} records on a page of at most {limit}"
        total = body.get("total_results")
        if isinstance(total, int):
            assert body["has_more"] == (skip + len(data) < total), (
                f"has_more is {body['has_more']} with _skip={skip}, {len(data)} records, total_results={total}")
        return None
    if vendor == "nexudus" and isinstance(body.get("Records"), list):
        _check_nexudus_page(body, _int(query.get("page"), 1), _int(query.get("size"), 25))
        return None
    return SKIP


def _check_nexudus_page(page: dict, asked_page: int, asked_size: int) -> None:
    records, size, current = page["Records"], page.get("CurrentPageSize"), page.get("CurrentPage")
    total, pages = page.get("TotalItems"), page.get("TotalPages")
    assert current == asked_page, f"CurrentPage is {current}, page {asked_page} was asked"
    assert size == asked_size, f"CurrentPageSize is {size}, size {asked_size} was asked"
    assert len(records) <= size, f"{len(records)} Records on a page of {size}"
    assert isinstance(total, int) and pages == math.ceil(total / size), (
        f"TotalPages is {pages} for TotalItems {total} at {size} per page")
    has_next, has_previous = page.get("HasNextPage"), page.get("HasPreviousPage")
    assert has_next == (current < pages), f"HasNextPage is {has_next} on page {current} of {pages}"
    assert has_previous == (current > 1), f"HasPreviousPage is {has_previous} on page {current}"
    first = (current - 1) * size + 1 if records else 0
    last = first + len(records) - 1 if records else 0
    assert (page.get("FirstItem"), page.get("LastItem")) == (first, last), (
        f"FirstItem/LastItem are {page.get('FirstItem')}/{page.get('LastItem')}, expected {first}/{last}")


def _int(value, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except (TypeError, ValueError):
        return default


# -- read after write --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Write:
    """Where a successful write names its record's ID, and where its response holds the record."""

    id_in: str  # "response" (JSON pointer into the body), "path" (parameter name) or "body" (pointer)
    id_ref: str
    record: str | None  # JSON pointer to the record in the response; None when the answer is an envelope


WRITES = {
    "close": {
        "createOpportunity": Write("response", "/id", ""),
        "updateOpportunity": Write("path", "id", ""),
        "createOpportunityStatusChange": Write("response", "/id", ""),
    },
    "nexudus": {
        "createCrmOpportunityHistory": Write("response", "/Value/Id", None),
        "updateCrmOpportunityHistory": Write("body", "/Id", None),
    },
    "sprinthub": {
        "createOpportunity": Write("response", "/id", ""),
        "updateOpportunity": Write("path", "opportunityId", "/data"),
    },
}
READS = {"close": {"getOpportunity", "getOpportunityStatusChange"}, "nexudus": {"getCrmOpportunityHistory"}}
DELETES = {"close": {"deleteOpportunity", "deleteOpportunityStatusChange"}, "nexudus": {"deleteCrmOpportunityHistory"}}
# Fields a client writes and must read back unchanged. Others are derived, defaulted or reshaped
# by the vendor (Close stores `date_won` as a date), so they are not compared.
FIELDS = {
    "close": ("note", "value", "value_period", "confidence", "lead_id", "status_id", "user_id", "contact_id",
              "opportunity_id", "old_status_id", "new_status_id"),
    "nexudus": ("NewCrmBoardColumnId", "OldCrmBoardColumnId", "CrmOpportunityId", "UserId"),
    "sprinthub": ("title", "value", "crm_column", "lead_id", "sequence", "status", "user"),
}
# Times compare as instants to the second: vendors rewrite the zone and precision (Nexudus whole seconds).
TIMES = {"close": ("date_created",), "nexudus": ("FromTime", "ToTime"), "sprinthub": ("expectedCloseDate",)}


@schemathesis.check
class read_after_write:
    """What was written is what is read: a write's answer carries the values it sent (non-null
    ones: a null may become a default), and a later GET of the same record reads back the record
    the write answered (or, for Nexudus, whose writes answer an envelope, the values sent)."""

    def __init__(self):
        self.written: dict[tuple[str, str], dict] = {}  # (vendor, record id) → fields of the last write

    def after_response(self, ctx, response, case):
        vendor = vendor_of(case)
        body = json_object(response) if vendor is not None and is_success(response) else None
        if body is None:
            return SKIP
        name = operation_id(case)
        write = WRITES.get(vendor, {}).get(name)
        if write is not None and isinstance(case.body, dict) and body.get("WasSuccessful") is not False:
            sent = _fields(vendor, case.body, with_nulls=False)  # a null sent may become a default
            record = json_pointer(body, write.record) if write.record is not None else None
            record_id = self._id_of(write, case, body)
            if record_id is not None:
                # A write that answers the record is what later reads must match, nulls included.
                self.written[(vendor, record_id)] = _fields(vendor, record) if isinstance(record, dict) else sent
            if not isinstance(record, dict):
                return SKIP
            _compare(vendor, sent, record, f"{name} answer")
            return None
        key = (vendor, str((case.path_parameters or {}).get("id")))
        if name in DELETES.get(vendor, ()):
            self.written.pop(key, None)
        elif name in READS.get(vendor, ()) and key in self.written:
            _compare(vendor, self.written[key], body, f"{name} after the last write")
            return None
        return SKIP

    @staticmethod
    def _id_of(write: Write, case, body: dict) -> str | None:
        if write.id_in == "path":
            value = (case.path_parameters or {}).get(write.id_ref)
        else:
            value = json_pointer(body if write.id_in == "response" else case.body, write.id_ref)
        return None if value is None else str(value)


def _fields(vendor: str, body: dict, with_nulls: bool = True) -> dict:
    names = FIELDS[vendor] + TIMES[vendor]
    return {k: v for k, v in body.items()
            if k in names and (with_nulls or v is not None) and not isinstance(v, (dict, list))}


def _compare(vendor: str, sent: dict, record: dict, where: str) -> None:
    differ = []
    for name, value in sent.items():
        if name not in record:
            differ.append(f"`{name}` is missing (sent {value!r})")
        elif name in TIMES[vendor]:
            if _instant(value) is not None and _instant(value) != _instant(record[name]):
                differ.append(f"`{name}` sent {value!r}, read {record[name]!r}")
        elif record[name] != value:
            differ.append(f"`{name}` sent {value!r}, read {record[name]!r}")
    assert not differ, f"{where}: " + "; ".join(differ)


def _instant(value) -> datetime | None:
    """A date-time as a UTC instant to the second; None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)  # Python 3.11 reads "Z" too
    except ValueError:
        return None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC).replace(microsecond=0)
    except OverflowError:  # year 1 with a positive offset, year 9999 with a negative one
        return None


def json_pointer(document, pointer: str):
    """Resolve a JSON pointer ("" is the whole document); None when any step is missing."""
    node = document
    for part in [p for p in pointer.split("/") if p]:
        if isinstance(node, dict):
            node = node.get(part.replace("~1", "/").replace("~0", "~"))
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node
