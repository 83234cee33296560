"""Hostile input, over every operation of every spec: never a 500, always the vendor's error shape,
and a refused request leaves the store exactly as it was (on both stores)."""
from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mock_server import VENDORS, create_app, load_spec, state_of
from tests.conftest import CLOSE_AUTH, NEXUDUS_AUTH, SPRINTHUB_AUTH
from tests.test_served_over_http import running
from tests.test_server_sockets import SERVERS

AUTH = {"close": CLOSE_AUTH, "nexudus": NEXUDUS_AUTH, "sprinthub": SPRINTHUB_AUTH}
# The key every error body of the vendor carries (its spec's error schemas say the same).
ERROR_KEYS = {"close": {"error", "errors"}, "nexudus": {"Message", "error"}, "sprinthub": {"msg", "error"}}

# -- what an attacker sends ------------------------------------------------------------------------
leaf = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False), st.text(max_size=12),
)
json_value = st.recursive(leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                            max_size=3), max_leaves=12)
# Values that broke promises before: past int64, integral floats, booleans for numbers, huge strings,
# containers where scalars go, nesting past any limit.
HOSTILE_VALUES = [2**70, -(2**70), 2**63, -(2**63) - 1, 2**53 + 1, 1.0, 1e18, 1e308, -0.0, True, "", "x" * 5000,
                  "2024-13-45T25:61:61Z", "\u0000", None, [], {}, [[[[[[[[[[1]]]]]]]]]],
                  json.loads("[" * 40 + "1" + "]" * 40)]
printable = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=24)
numberish = st.one_of(st.integers(min_value=-(2**80), max_value=2**80).map(str), st.floats().map(repr), printable)


def deep(depth: int, opener: str = "[", closer: str = "]") -> bytes:
    return (opener * depth + "1" + closer * depth).encode()


def body_fields(op, spec) -> list[str]:
    schema = spec.resolve(op.body_schema or {})
    for part in schema.get("allOf", []):
        schema = {**spec.resolve(part), **schema}
    return sorted(schema.get("properties", {})) or ["x"]


def documented_bodies(op, spec) -> list[dict]:
    """The spec's own example bodies: valid, so one hostile field in them reaches the handler."""
    content = spec.resolve(op.raw.get("requestBody", {})).get("content", {})
    found = []
    for media in content.values():
        if isinstance(media.get("example"), dict):
            found.append(media["example"])
        found += [e["value"] for e in media.get("examples", {}).values() if isinstance(e.get("value"), dict)]
    return found or [{}]


def one_field_spoiled(op, spec):
    names = body_fields(op, spec)
    values = st.one_of(st.sampled_from(HOSTILE_VALUES), json_value)
    return st.tuples(st.sampled_from(documented_bodies(op, spec)), st.sampled_from(names), values).map(
        lambda parts: {**parts[0], parts[1]: parts[2]})


def bodies(op, spec):
    fields = st.dictionaries(st.sampled_from(body_fields(op, spec)), json_value, max_size=6)
    return st.one_of(
        one_field_spoiled(op, spec).map(lambda d: json.dumps(d).encode()),
        one_field_spoiled(op, spec).map(lambda d: json.dumps(d).encode()),  # twice as likely: it reaches handlers
        fields.map(lambda d: json.dumps(d).encode()),
        json_value.map(lambda v: json.dumps(v).encode()),
        st.binary(max_size=40),  # bad bytes
        st.integers(33, 1500).map(deep),  # nesting past any limit
        st.integers(33, 300).map(lambda d: deep(d, '{"a":', "}")),
        fields.map(lambda d: (json.dumps(d)[:-1] + ', "value": 1, "value": "twice"}').encode() if d else b"{}"),
    )


def requests_for(vendor: str, op):
    """(path, query, headers, body, content type) for one operation, hostile in every part."""
    spec = load_spec(vendor)
    declared = [p.name for p in op.parameters if p.location == "query"] + ["_unknown"]
    path_names = [p.name for p in op.parameters if p.location == "path"]
    required = {p.name: ("1" if spec.resolve(p.schema).get("type") == "integer" else "acme")
                for p in op.parameters if p.location == "query" and p.required}
    # Mostly well-addressed and authenticated, so the hostile part reaches validation and the handler.
    media = list(op.body_media_types) * 6 + ["text/plain", ""]
    return st.tuples(
        # A "/" in a path value makes another path (a no-route 404, a body of its own): kept out here.
        st.fixed_dictionaries({name: numberish.map(lambda v: v.replace("/", "")) for name in path_names}),
        st.dictionaries(st.sampled_from(declared), numberish, max_size=4).map(lambda q: {**required, **q}),
        st.one_of(st.sampled_from([AUTH[vendor]] * 6 + [{}, {"Authorization": "Basic !!!"}]), hostile_credentials(spec)),
        bodies(op, spec) if op.has_body else st.just(b""),
        st.sampled_from(media),
    )


# What a header can carry (HTTP/1.1 field values are Latin-1 octets): any of it, in any credential.
header_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"),
                      max_size=24)


def hostile_credentials(spec):
    """Every header a scheme of the spec reads, with any value; Authorization with any scheme word
    (a non-ASCII Basic value was a 500: base64 refuses non-ASCII text with a bare ValueError)."""
    names = sorted({s["name"] for s in spec.security_schemes.values() if s.get("in") == "header"})
    authorization = st.builds(lambda word, value: {"Authorization": f"{word} {value}"},
                              st.sampled_from(["Basic", "basic", "Bearer", "Token", ""]), header_text)
    return authorization | st.dictionaries(st.sampled_from(names or ["Authorization"]), header_text, min_size=1)


def cases():
    for vendor in VENDORS:
        for op in load_spec(vendor).operations:
            for store in ("memory", "sqlite"):
                yield pytest.param(vendor, op.operation_id, store, id=f"{vendor}-{op.operation_id}-{store}")


# -- what must hold ---------------------------------------------------------------------------------
def check_answer(vendor: str, op, status: int, body, before: dict, after: dict) -> None:
    assert status < 500, f"{op.operation_id} answered {status}: {body}"
    if status >= 400:
        assert isinstance(body, dict) and ERROR_KEYS[vendor] & set(body), f"not {vendor}'s error shape: {body}"
        assert after == before, f"a refused request ({status}) changed the store: {before} -> {after}"
        if str(status) in op.statuses:  # documented: the body is the documented error schema
            spec = load_spec(vendor)
            schema = spec.response_schema(op, status)
            if schema is not None:
                problems = [e.message for e in spec.validator(schema).iter_errors(body)]
                assert not problems, (status, body, problems)


def send(client, vendor: str, op, request):
    path_params, query, headers, body, content_type = request
    path = load_spec(vendor).base_path + op.path
    for name, value in path_params.items():
        path = path.replace("{" + name + "}", quote(value, safe="") or "x")
    headers = {**headers, "Content-Type": content_type} if content_type else headers
    return client.open(path, method=op.method, query_string=query, data=body, headers=headers)


@pytest.mark.parametrize("vendor, operation_id, store", list(cases()))
def test_no_hostile_request_gets_a_500_or_changes_the_store_when_refused(vendor, operation_id, store):
    op = load_spec(vendor).by_id[operation_id]
    with tempfile.TemporaryDirectory() as scratch:
        url = "memory" if store == "memory" else f"sqlite:{Path(scratch) / 'mock.db'}"
        app = create_app(vendor, store=url, seed_data=3)
        client, the_store = app.test_client(), state_of(app).store

        @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(request=requests_for(vendor, op))
        def sweep(request):
            before = the_store.collections()
            response = send(client, vendor, op, request)
            check_answer(vendor, op, response.status_code, response.get_json(silent=True), before,
                         the_store.collections())

        logging.disable(logging.ERROR)  # a 500's traceback would only repeat the assertion
        try:
            sweep()
        finally:
            logging.disable(logging.NOTSET)
        assert client.get("/__mock/records").status_code == 200  # nothing stored poisons the inspection


def body_cases():
    for vendor in VENDORS:
        for op in load_spec(vendor).operations:
            if op.has_body:
                for store in ("memory", "sqlite", "postgresql"):
                    yield pytest.param(vendor, op.operation_id, store, id=f"{vendor}-{op.operation_id}-{store}")


@pytest.mark.parametrize("vendor, operation_id, store", list(body_cases()))
def test_every_body_field_takes_every_hostile_value_without_a_500(vendor, operation_id, store, tmp_path, request):
    """Exhaustive, not sampled: each field of each documented request body, spoiled with each value
    that once broke a promise, sent as the vendor's client would (right media type, valid auth)."""
    url = {"memory": "memory", "sqlite": f"sqlite:{tmp_path / 'mock.db'}"}.get(store) \
        or request.getfixturevalue("postgres_url")
    app = create_app(vendor, store=url, seed_data=3)
    sweep_body_fields(vendor, operation_id, app.test_client(), state_of(app).store.collections)


class SocketClient:
    """The Flask test client's `open` and `get_json`, over a real socket to `crm-mock serve`."""

    def __init__(self, url: str, prefix: str = "") -> None:
        self.url, self.prefix, self.session = url, prefix, requests.Session()

    def open(self, path, method, query_string=None, data=None, headers=None):
        response = self.session.request(method, self.url + self.prefix + path, params=query_string, data=data,
                                        headers=headers, timeout=10)
        response.get_json = lambda silent=True: _json_or_none(response)
        return response

    def collections(self) -> dict:
        response = self.session.get(self.url + "/__mock/records", timeout=10).json()["collections"]
        return response


def _json_or_none(response):
    try:
        return response.json()
    except ValueError:
        return None


@pytest.fixture(scope="module", params=SERVERS)
def served_mock(request):
    with running("--server", request.param, "--seed-data", "3") as url:
        yield url


def socket_cases():
    for vendor in VENDORS:
        for op in load_spec(vendor).operations:
            if op.has_body:
                yield pytest.param(vendor, op.operation_id, id=f"{vendor}-{op.operation_id}")


@pytest.mark.parametrize("vendor, operation_id", list(socket_cases()))
def test_every_hostile_body_over_each_server_the_cli_offers(served_mock, vendor, operation_id):
    """The same exhaustive sweep through `crm-mock serve` on each server: the HTTP layer adds nothing."""
    client = SocketClient(served_mock, f"/{vendor}")
    sweep_body_fields(vendor, operation_id, client, client.collections)


def sweep_body_fields(vendor: str, operation_id: str, client, collections) -> None:
    spec = load_spec(vendor)
    op = spec.by_id[operation_id]
    path_params = {p.name: "1" for p in op.parameters if p.location == "path"}
    query = {p.name: ("1" if spec.resolve(p.schema).get("type") == "integer" else "acme")
             for p in op.parameters if p.location == "query" and p.required}
    media = op.body_media_types[0]
    encode = (lambda d: urlencode({k: json.dumps(v) for k, v in d.items()}).encode()) if "form" in media \
        else (lambda d: json.dumps(d).encode())
    logging.disable(logging.ERROR)
    try:
        for example in documented_bodies(op, spec):
            for name in body_fields(op, spec):
                for value in HOSTILE_VALUES:
                    before = collections()
                    response = send(client, vendor, op, (path_params, query, AUTH[vendor],
                                                         encode({**example, name: value}), media))
                    check_answer(vendor, op, response.status_code, response.get_json(silent=True), before,
                                 collections())
    finally:
        logging.disable(logging.NOTSET)


# -- each finding from the issue, as its own regression test ----------------------------------------------
@pytest.fixture
def close(make_client):
    return make_client("close")


def records_of(client) -> dict:
    return client.get("/__mock/records").get_json()["collections"]


@pytest.mark.parametrize("value", [2**70, 2**63, -(2**63) - 1, 1.0, 1e18, True])
def test_close_value_outside_a_whole_int64_is_a_field_error_and_stores_nothing(close, value):
    before = records_of(close)
    response = close.post("/api/v1/opportunity/", json={"value": value}, headers=CLOSE_AUTH)
    assert response.status_code == 400
    assert set(response.get_json()["field-errors"]) == {"value"}
    assert records_of(close) == before  # no stray "Untitled" lead


@pytest.mark.parametrize("confidence, status", [(-1, 400), (0, 200), (100, 200), (101, 400)])
def test_close_confidence_is_a_percentage(close, confidence, status):
    response = close.post("/api/v1/opportunity/", json={"value": 100, "confidence": confidence}, headers=CLOSE_AUTH)
    assert response.status_code == status, response.get_json()


@pytest.mark.parametrize("length", ["\u00b2", "\u0663", "1x", "-1", " 12", "99999999999999999999"])
def test_a_content_length_that_is_no_plain_number_is_never_a_500(close, length):
    """Servers usually refuse these first; one that passes them on must not make the mock fail
    ("\u00b2".isdigit() is true, and int() refuses it)."""
    response = close.post("/api/v1/opportunity/", data=b'{"note": "x"}', headers=CLOSE_AUTH,
                          content_type="application/json", environ_overrides={"CONTENT_LENGTH": length})
    assert response.status_code in (200, 400, 413), response.get_data()


def test_close_value_formatted_never_shows_a_float(close):
    body = close.post("/api/v1/opportunity/", json={"value": 1}, headers=CLOSE_AUTH).get_json()
    assert body["value_formatted"] == "$0.01"


def test_nesting_only_orjson_follows_with_a_long_number_is_the_vendors_400(make_client):
    """A 20-digit number sends a body to the stdlib's parser too (orjson reads integers past 64 bits
    as floats); nested 990 deep, that parser raised RecursionError: a 500."""
    client = make_client()
    body = b"[" * 990 + b"12345678901234567890" + b"]" * 990
    answer = client.post("/close/api/v1/opportunity/", data=body, headers={**CLOSE_AUTH, "Content-Type": "application/json"})
    assert answer.status_code == 400 and "nests deeper than 32 levels" in answer.get_json()["errors"][0]


def test_deep_nesting_is_the_vendors_400_and_the_store_stays_readable(make_client):
    client = make_client()  # every vendor, one store
    json_type = {"Content-Type": "application/json"}
    note = client.post("/close/api/v1/opportunity/", data=b'{"note": ' + deep(1000) + b"}",
                       headers={**CLOSE_AUTH, **json_type})
    assert note.status_code == 400 and "nests deeper than 32 levels" in note.get_json()["errors"][0]
    fields = client.post("/sprinthub/crmopportunity?id=12&i=acme", data=b'{"title": "x", "lead_id": 8473, "fields": '
                         + deep(100, '{"a":', "}") + b"}", headers={**SPRINTHUB_AUTH, **json_type})
    assert fields.status_code == 400 and "nests deeper" in fields.get_json()["msg"]
    assert client.get("/__mock/records").status_code == 200


def test_integers_past_what_the_store_holds_are_a_400(make_client):
    client = make_client()
    skip = client.get(f"/close/api/v1/opportunity/?_skip={2**63}", headers=CLOSE_AUTH)
    assert skip.status_code == 400 and "_skip" in skip.get_json()["field-errors"]
    page = client.get(f"/nexudus/api/crm/crmopportunityhistories?page={2**62}", headers=NEXUDUS_AUTH)
    assert page.status_code == 400 and page.get_json()["Errors"][0]["PropertyName"] == "page"
    last = client.get(f"/nexudus/api/crm/crmopportunityhistories?page={2**31 - 1}&size=1000", headers=NEXUDUS_AUTH)
    assert last.status_code == 200 and last.get_json()["Records"] == []  # past the end, not an overflow


def test_sprinthub_value_past_int64_is_refused_not_rounded(make_client):
    client = make_client("sprinthub")
    response = client.post("/crmopportunity?id=12&i=acme", json={"title": "x", "lead_id": 8473, "value": 2**70},
                           headers=SPRINTHUB_AUTH)
    assert response.status_code == 400 and "value" in response.get_json()["msg"]


def test_a_handler_that_fails_after_writing_leaves_nothing_behind(make_client, monkeypatch):
    """The handle stage runs a write in one transaction: Close's implicit lead and the opportunity
    are undone when a later step (here, recording the status change) fails, on both stores."""
    from mock_server.vendors.close import Close

    def broken(self, *args, **kwargs):
        raise RuntimeError("the history write failed")

    monkeypatch.setattr(Close, "_status_change", broken)
    client = make_client("close")
    before = records_of(client)
    logging.disable(logging.ERROR)
    try:
        response = client.post("/api/v1/opportunity/", json={"value": 5}, headers=CLOSE_AUTH)
    finally:
        logging.disable(logging.NOTSET)
    assert response.status_code == 500 and set(response.get_json()) == {"error"}
    assert records_of(client) == before


def test_list_totals_stay_exact_past_int64_on_every_store(make_client):
    """Close's list totals sum values the spec allows up to int64's largest, so a sum passes int64:
    SQLite's SUM() raised 'integer overflow', and every Close list of the namespace was a 500 until
    a reset. Totals are exact, as in memory, on every store, and so is a record holding an integer
    past 64 bits when read back (orjson alone read one as a float)."""
    client = make_client(seed_data=0)
    ids = []
    for value in (2**63 - 1, 1):
        created = client.post("/close/api/v1/opportunity/", json={"value": value, "value_period": "monthly"},
                              headers=CLOSE_AUTH)
        assert created.status_code == 200, created.get_json()
        ids.append(created.get_json()["id"])
    page = client.get("/close/api/v1/opportunity/", headers=CLOSE_AUTH)
    assert page.status_code == 200, page.get_json()
    assert page.get_json()["total_value_monthly"] == 2**63
    assert page.get_json()["total_value_annualized"] == 12 * 2**63
    largest = client.get(f"/close/api/v1/opportunity/{ids[0]}/", headers=CLOSE_AUTH).get_json()
    assert largest["annualized_value"] == 12 * (2**63 - 1) and isinstance(largest["annualized_value"], int)
