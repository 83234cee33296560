"""Steering `crm-mock serve` from a test, over a real socket with real clients: overrides (vendor
errors, literal answers, faults, stages, times, priority), and verification with near misses."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest
import requests
from closeio_api import API

from tests.test_served_over_http import running, start

CLOSE = {"Authorization": "Basic YXBpX2tleTo="}  # API key "api_key" as the Basic username
NEXUDUS = {"Authorization": "Bearer t"}
SPRINTHUB = {"Authorization": "Bearer t", "apitoken": "a"}
CREATE = {"value": 500, "value_period": "monthly", "confidence": 75}


@pytest.fixture(scope="module")
def mock():
    process, port = start()  # all vendors, the default server
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(autouse=True)
def fresh(mock):
    requests.post(f"{mock}/__mock/reset", timeout=10).raise_for_status()


def override(mock, **spec) -> dict:
    response = requests.post(f"{mock}/__mock/overrides", json=spec, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def count(mock, collection: str) -> int:
    return requests.get(f"{mock}/__mock/records", timeout=10).json()["collections"].get(collection, 0)


def create_close(mock, **kwargs):
    return requests.post(f"{mock}/close/api/v1/opportunity/", json=CREATE, headers=CLOSE, timeout=10, **kwargs)


# -- answers in the vendor's shape --------------------------------------------------------------------------
@pytest.mark.parametrize("vendor, path, headers, body, status, shape, header", [
    ("close", "/close/api/v1/opportunity/", CLOSE, CREATE, 429, {"error"}, "RateLimit"),
    ("nexudus", "/nexudus/api/crm/crmopportunityhistories", NEXUDUS,
     {"CrmOpportunityId": 1204567, "NewCrmBoardColumnId": 301}, 409, {"Message"}, "Retry-After"),
    ("sprinthub", "/sprinthub/crmopportunity?id=12&i=acme", SPRINTHUB, {"title": "x", "lead_id": 8473}, 401,
     {"msg"}, None),
])
def test_rate_limited_is_each_vendors_own_throttling_answer(mock, vendor, path, headers, body, status, shape, header):
    override(mock, match={"vendor": vendor}, respond={"error": "rate_limited", "retry_after": 2}, times=1)
    first = requests.post(f"{mock}{path}", json=body, headers=headers, timeout=10)
    assert first.status_code == status and set(first.json()) == shape
    assert header is None or header in first.headers
    assert requests.post(f"{mock}{path}", json=body, headers=headers, timeout=10).status_code == 200  # times: 1


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_in_the_vendors_shape_and_nothing_stored_before_the_vendor(mock, status):
    before = count(mock, "close.opportunities")
    override(mock, match={"operation": "createOpportunity", "body": {"value": 500}},
             respond={"error": "server_error", "status": status})
    response = create_close(mock)
    assert response.status_code == status and set(response.json()) == {"error"}
    assert count(mock, "close.opportunities") == before


def test_validation_error_names_the_field_in_closes_envelope(mock):
    override(mock, match={"operation": "createOpportunity"},
             respond={"error": "validation", "field": "value", "message": "Too big for us."})
    response = create_close(mock)
    assert response.status_code == 400
    assert response.json() == {"errors": [], "field-errors": {"value": "Too big for us."}}


def test_a_literal_answer_and_only_matching_bodies(mock):
    override(mock, match={"vendor": "close", "method": "POST", "path": "/opportunity/*", "body": {"value": 1}},
             respond={"status": 202, "headers": {"X-Mocked": "yes"}, "body": {"queued": True}})
    assert create_close(mock).status_code == 200  # value 500: not matched
    response = requests.post(f"{mock}/close/api/v1/opportunity/", json={"value": 1}, headers=CLOSE, timeout=10)
    assert (response.status_code, response.json(), response.headers["X-Mocked"]) == (202, {"queued": True}, "yes")


def test_stage_after_stores_then_the_client_sees_the_error(mock):
    before = count(mock, "close.opportunities")
    override(mock, match={"operation": "createOpportunity"}, respond={"error": "server_error"}, stage="after",
             times=1)
    assert create_close(mock).status_code == 503
    assert count(mock, "close.opportunities") == before + 1  # the write happened


def test_priority_then_newest_wins_and_hits_are_counted(mock):
    low = override(mock, match={"vendor": "close"}, respond={"status": 201, "body": {"which": "low"}}, priority=1)
    high = override(mock, match={"vendor": "close"}, respond={"status": 202, "body": {"which": "high"}}, priority=5)
    newer_low = override(mock, match={"vendor": "close"}, respond={"status": 203, "body": {}}, priority=1)
    assert create_close(mock).json() == {"which": "high"}
    requests.delete(f"{mock}/__mock/overrides/{high['id']}", timeout=10).raise_for_status()
    assert create_close(mock).status_code == 203  # tie at priority 1: the newest
    listed = {o["id"]: o for o in requests.get(f"{mock}/__mock/overrides", timeout=10).json()["overrides"]}
    assert listed[newer_low["id"]]["hits"] == 1 and listed[low["id"]]["hits"] == 0 and high["id"] not in listed
    requests.post(f"{mock}/__mock/reset", timeout=10)
    assert requests.get(f"{mock}/__mock/overrides", timeout=10).json()["overrides"] == []


@pytest.mark.parametrize("spec, named", [
    ({"match": {"vendor": "hubspot"}, "respond": {"error": "server_error"}}, "match.vendor: unknown vendor 'hubspot'"),
    ({"match": {"operation": "createDeal"}, "respond": {"error": "server_error"}}, "match.operation: unknown operationId"),
    ({"respond": {"error": "teapot"}}, "respond.error: 'teapot' is not one of validation, unauthorized"),
    ({"respond": {"status": 200}, "colour": "red"}, "colour: unknown field"),
    ({"match": {"vendor": "close"}}, "needs `respond`"),
    ({"fault": {"drop": True, "reset": True}}, "at most one of drop, reset"),
    ({"fault": {"latency_ms": -5}}, "fault.latency_ms"),
    # Each of these was a 201, and then every request it matched broke: the server's bare HTML 500,
    # a connection closed unanswered (100), a bodiless 101, or an override list that was not JSON.
    ({"respond": {"headers": {"X-A": "\U0001f600"}}}, "respond.headers: X-A: the value must be Latin-1"),
    ({"respond": {"headers": {"": "x"}}}, "respond.headers: '' is not a header name"),
    ({"respond": {"headers": {"X A": "x"}}}, "respond.headers: 'X A' is not a header name"),
    ({"respond": {"headers": {"X-A": 1}}}, "respond.headers: X-A: the value must be a string"),
    ({"respond": {"status": 100}}, "respond.status: a whole number from 200 to 599"),
    ({"respond": {"status": 101}}, "respond.status: a whole number from 200 to 599"),
    ('{"respond": {"body": Infinity}}', "the body is not JSON: Infinity is not a JSON number"),
    ('{"respond": {"body": {"a": [1, -Infinity]}}}', "the body is not JSON: -Infinity is not a JSON number"),
    ('{"match": {"body": {"value": NaN}}, "respond": {"status": 200}}', "the body is not JSON: NaN is not"),
    # ...and these could never fire: the route stage refuses such a request before overrides run.
    ({"match": {"vendor": "close", "method": "GET", "path": "/custom_field/lead/"}, "respond": {"status": 200}},
     "match.path: '/custom_field/lead/' matches no path of close for GET: give one of its templates, a path of "
     "that form or a glob matching one: /activity/status_change/opportunity/"),
    ({"match": {"method": "GETT"}, "respond": {"status": 200}},
     "match.method: 'GETT' is not a method of any vendor here; one of DELETE, GET, HEAD, POST, PUT"),
    ({"match": {"path": "opportunity"}, "respond": {"status": 200}}, "match.path: 'opportunity' must start with '/'"),
    ({"match": {"operation": "createOpportunity", "method": "GET"}, "respond": {"status": 200}},
     "match.method: 'GET' is not a method of createOpportunity; one of POST"),
    ({"match": {"vendor": "close", "method": "POST", "path": "/lead/*"}, "respond": {"status": 200}},
     "match.path: '/lead/*' matches no path of close for POST: give one of its templates, a path of that form or "
     "a glob matching one: /activity/status_change/opportunity/, /opportunity/"),
    ({"match": {"vendor": "close", "path": "/api/v1/opportunity/"}, "respond": {"status": 200}},  # not /close/api/v1
     "match.path: '/api/v1/opportunity/' matches no path of close"),
    ({"match": {"vendor": "nexudus", "path": "/crm/crmopportunities/1/x"}, "respond": {"status": 200}},
     "/crm/crmopportunities/{id}"),
])
def test_a_bad_override_is_refused_naming_the_field_and_the_valid_values(mock, spec, named):
    sent = {"data": spec, "headers": {"Content-Type": "application/json"}} if isinstance(spec, str) else {"json": spec}
    response = requests.post(f"{mock}/__mock/overrides", timeout=10, **sent)
    assert response.status_code == 400 and named in response.json()["error"], response.text
    assert requests.get(f"{mock}/__mock/overrides", timeout=10).json() == {"overrides": []}
    assert requests.get(f"{mock}/close/api/v1/status/opportunity/", headers=CLOSE, timeout=10).status_code == 200


@pytest.mark.parametrize("path", [
    "/opportunity/{id}/", "/opportunity/*", "/opportunity/oppo_*/", "/opportunity/[o]*", "*/opportunity/?*",
    "/opportunity/[!/]*", "/close/api/v1/opportunity/oppo_*", "/close/api/v1/opportunity/*",
])
def test_an_override_path_may_be_a_template_a_path_or_a_glob_that_can_match_one(mock, path):
    made = create_close(mock).json()
    override(mock, match={"vendor": "close", "method": "get", "path": path}, respond={"status": 299, "body": {}},
             times=1)
    assert requests.get(f"{mock}/close/api/v1/opportunity/{made['id']}/", headers=CLOSE, timeout=10).status_code == 299


def test_a_journal_query_may_name_a_path_no_operation_serves(mock):
    # The journal keeps requests the router refused (404, 405), so they can be looked for.
    assert requests.get(f"{mock}/close/api/v1/custom_field/lead/", headers=CLOSE, timeout=10).status_code == 404
    found = requests.post(f"{mock}/__mock/requests/find",
                          json={"match": {"vendor": "close", "method": "GET", "path": "/custom_field/lead/"}}, timeout=10)
    assert found.status_code == 200 and [e["status"] for e in found.json()["requests"]] == [404]
    never = requests.post(f"{mock}/__mock/verify", json={"match": {"operation": "createOpportunity", "method": "GET"},
                                                          "count": 0}, timeout=10)
    assert never.status_code == 400 and "match.method: 'GET' is not a method of createOpportunity" in never.text


def test_a_literal_answer_carries_latin_1_and_token_named_headers(mock):
    override(mock, match={"operation": "listOpportunityStatuses"},
             respond={"status": 299, "headers": {"X-Note": "caf\u00e9 \t ok", "X-Ok": "!#$%"}, "body": {}})
    response = requests.get(f"{mock}/close/api/v1/status/opportunity/", headers=CLOSE, timeout=10)
    assert response.status_code == 299 and response.headers["X-Note"] == "caf\u00e9 \t ok"


def test_a_literal_text_body_goes_out_as_it_is_under_its_own_content_type(mock):
    """A proxy's HTML error page in front of the vendor (a common real failure): a string body with a
    Content-Type that is not JSON is sent as it is, not as a quoted JSON string."""
    page = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    override(mock, match={"operation": "createOpportunity"}, times=1,
             respond={"status": 502, "headers": {"Content-Type": "text/html"}, "body": page})
    response = create_close(mock)
    assert response.status_code == 502 and response.headers["Content-Type"].startswith("text/html")
    assert response.text == page
    override(mock, match={"operation": "createOpportunity"}, times=1, respond={"status": 200, "body": "plain"})
    assert create_close(mock).json() == "plain"  # without a Content-Type, a string is still JSON
    assert create_close(mock).status_code == 200  # each fired once


# -- faults, as a real client sees them ---------------------------------------------------------------------
def test_latency_slows_only_the_matched_call(mock):
    override(mock, match={"operation": "createOpportunity"}, fault={"latency_ms": 600})
    started = time.monotonic()
    assert create_close(mock).status_code == 200
    assert time.monotonic() - started >= 0.6
    started = time.monotonic()
    assert requests.get(f"{mock}/close/api/v1/status/opportunity/", headers=CLOSE, timeout=10).status_code == 200
    assert time.monotonic() - started < 0.5


def test_a_dropped_connection_after_the_write(mock):
    before = count(mock, "close.opportunities")
    override(mock, match={"operation": "createOpportunity"}, fault={"drop": True}, stage="after", times=1)
    with pytest.raises(requests.ConnectionError):
        create_close(mock)
    assert count(mock, "close.opportunities") == before + 1  # stored, though the client saw nothing
    # The journal says what the client met: the answer the mock would have sent, and the drop.
    entry = requests.get(f"{mock}/__mock/requests?operation=createOpportunity", timeout=10).json()["requests"][-1]
    assert (entry["status"], entry["fault"]) == (200, "drop")


def test_a_reset_before_the_vendor_stores_nothing(mock):
    before = count(mock, "close.opportunities")
    override(mock, match={"operation": "createOpportunity"}, fault={"reset": True}, times=1)
    with pytest.raises(requests.ConnectionError) as raised:
        create_close(mock)
    assert "reset" in str(raised.value).lower()
    assert count(mock, "close.opportunities") == before


def test_a_timeout_holds_the_connection_while_others_are_served(mock):
    override(mock, match={"operation": "createOpportunity"}, fault={"timeout_s": 3}, times=1)
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        requests.post(f"{mock}/close/api/v1/opportunity/", json=CREATE, headers=CLOSE, timeout=1)
    assert requests.get(f"{mock}/close/api/v1/status/opportunity/", headers=CLOSE, timeout=2).status_code == 200
    assert time.monotonic() - started < 3


def test_a_truncated_body(mock):
    override(mock, match={"operation": "listOpportunityStatuses"}, fault={"truncated": True}, times=1)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):  # headers and half the body, then EOF
        requests.get(f"{mock}/close/api/v1/status/opportunity/", headers=CLOSE, timeout=10).json()


def test_the_official_close_client_waits_out_a_forced_429(mock):
    override(mock, match={"operation": "createOpportunity"}, respond={"error": "rate_limited", "retry_after": 1},
             times=1)
    api = API(f"{mock}/close/api/v1/", api_key="api_key")
    started = time.monotonic()
    opportunity = api.post("opportunity", data=CREATE)  # closeio retries after Retry-After / RateLimit reset
    assert opportunity["value_formatted"] == "$5 monthly" and time.monotonic() - started >= 1


# -- verification -----------------------------------------------------------------------------------------
def test_verify_counts_and_explains_near_misses(mock):
    create_close(mock)
    requests.post(f"{mock}/close/api/v1/opportunity/", json={"value": 7}, headers=CLOSE, timeout=10)
    ok = requests.post(f"{mock}/__mock/verify", json={"match": {"operation": "createOpportunity",
                                                                 "body": {"value": 500}}, "count": 1}, timeout=10)
    assert ok.status_code == 200 and ok.json()["count"] == 1
    missed = requests.post(f"{mock}/__mock/verify", json={"match": {"operation": "createOpportunity",
                                                                     "body": {"value": 9}}, "min": 1}, timeout=10)
    assert missed.status_code == 409
    answer = missed.json()
    assert answer["count"] == 0 and answer["expected"] == "at least 1"
    nearest = answer["near_misses"][0]
    assert nearest["request"]["operation"] == "createOpportunity"
    assert any(line.startswith("body.value: expected 9") for line in nearest["differences"])


def test_near_misses_are_only_requests_that_did_not_match(mock):
    create_close(mock)
    requests.post(f"{mock}/close/api/v1/opportunity/", json={"value": 7}, headers=CLOSE, timeout=10)
    answer = requests.post(f"{mock}/__mock/verify", json={"match": {"operation": "createOpportunity",
                                                                     "body": {"value": 500}}, "count": 2},
                           timeout=10).json()
    assert answer["count"] == 1 and answer["expected"] == "exactly 2"
    assert answer["near_misses"] and all(miss["differences"] for miss in answer["near_misses"])
    assert answer["near_misses"][0]["request"]["body"]["value"] == 7


@pytest.mark.parametrize("path, body", [
    ("/__mock/requests/find", {"since": 1}), ("/__mock/requests/find", {"limit": "2"}),
    ("/__mock/requests/find", [1]), ("/__mock/verify", {"match": {}, "since": "yesterday"}),
    ("/__mock/verify", {"match": {}, "status": "200"}),
    ("/__mock/overrides", {"respond": {"error": "rate_limited", "retry_after": "soon"}}),
    ("/__mock/overrides", {"respond": {"status": 200, "headers": {"X-Evil": "a\r\nSet-Cookie: x=1"}}}),
])
def test_control_api_input_mistakes_are_400s_not_500s(mock, path, body):
    response = requests.post(f"{mock}{path}", json=body, timeout=10)
    assert response.status_code == 400 and response.json()["error"], response.text


@pytest.mark.parametrize("seed_data", ["%C2%B2", "%C2%B9%C2%B2", "-1", "1e3", "", "100001"])
def test_a_reset_to_a_size_that_is_not_a_whole_number_is_a_400(mock, seed_data):
    # "²".isdigit() is true, but int("²") raises: it was a 500.
    response = requests.post(f"{mock}/__mock/reset?seed_data={seed_data}", timeout=10)
    assert response.status_code == 400 and "seed_data must be a whole number" in response.json()["error"]


@pytest.mark.parametrize("data, content_type, named", [
    ('{"match": {"operation": "createOpportunity"}}', None, None),  # no Content-Type: read all the same
    ('{"match": {"operation": "createOpportunity"}}', "application/x-www-form-urlencoded", None),  # curl -d
    ('{"match": {"operation": "createOpportunity"}', "application/json", "the body is not JSON"),
    ('{"match": {"operation": NaN}}', "application/json", "the body is not JSON: NaN is not a JSON number"),
    ('{"mach": {"operation": "createOpportunity"}}', "application/json",
     "mach: unknown field; a journal query takes match, status, since, limit"),
    ("", "application/json", "a JSON object with some of match, status, since, limit"),
])
def test_a_journal_query_that_cannot_be_read_is_a_400_not_the_whole_journal(mock, data, content_type, named):
    create_close(mock)
    requests.get(f"{mock}/close/api/v1/status/opportunity/", headers=CLOSE, timeout=10)
    headers = {"Content-Type": content_type} if content_type else {}
    response = requests.post(f"{mock}/__mock/requests/find", data=data.encode(), headers=headers, timeout=10)
    if named is None:
        assert [e["operation"] for e in response.json()["requests"]] == ["createOpportunity"], response.text
    else:
        assert response.status_code == 400 and named in response.json()["error"], response.text


@pytest.mark.parametrize("query, named", [
    ("opertion=createOpportunity", "opertion: unknown filter; the filters are vendor, operation, method, path, "
                                   "status, since, limit"),
    ("status=abc", "status: a whole number, not 'abc'"),
    ("limit=%C2%B2", "limit: a whole number, not"),
    ("limit=0", "limit: a whole number from 1"),
])
def test_a_journal_filter_that_cannot_be_read_is_a_400_not_the_whole_journal(mock, query, named):
    create_close(mock)
    response = requests.get(f"{mock}/__mock/requests?{query}", timeout=10)
    assert response.status_code == 400 and named in response.json()["error"], response.text


def test_overrides_and_verify_read_a_json_body_whatever_its_content_type(mock):
    # What `curl -d '{...}'` sends: the JSON labelled as a form. It was "an override must be a JSON object".
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    made = requests.post(f"{mock}/__mock/overrides", headers=form, timeout=10,
                         data='{"match": {"operation": "createOpportunity"}, "respond": {"status": 299, "body": {}}}')
    assert made.status_code == 201, made.text
    assert create_close(mock).status_code == 299
    verified = requests.post(f"{mock}/__mock/verify", headers=form, timeout=10,
                             data='{"match": {"operation": "createOpportunity"}, "count": 1}')
    assert verified.status_code == 200 and verified.json()["count"] == 1, verified.text
    broken = requests.post(f"{mock}/__mock/verify", data='{"count": 0', headers=form, timeout=10)
    assert broken.status_code == 400 and "the body is not JSON" in broken.json()["error"]


@pytest.mark.parametrize("path, body", [
    ("/__mock/verify", {"match": {"credential": "api_key:"}, "count": 1}),
    ("/__mock/verify", {"match": {"credential": "api_key:"}, "count": 0}),
    ("/__mock/requests/find", {"match": {"operation": "createOpportunity", "credential": "api_key:"}}),
])
def test_a_journal_match_on_a_credential_is_a_400_pointing_at_user(mock, path, body):
    # The journal keeps no credentials: this was a 409 "credential: not the one sent" for the very
    # credential sent (and a count of 0 passed).
    create_close(mock)
    response = requests.post(f"{mock}{path}", json=body, timeout=10)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == ("match.credential: credentials are never kept in the journal, so no entry "
                                        "has one; match on user (who called) instead; credential is for overrides")


def test_a_verify_or_look_at_a_namespace_nobody_made_is_a_404_and_does_not_make_it(mock):
    made = requests.post(f"{mock}/close/api/v1/opportunity/", json=CREATE, timeout=10,
                         headers={**CLOSE, "X-Crm-Mock-Namespace": "job-123"})
    assert made.status_code == 200
    typo = requests.post(f"{mock}/__mock/verify?namespace=jbo-123", json={"match": {}, "count": 0}, timeout=10)
    assert typo.status_code == 404 and typo.json()["error"].startswith("no namespace 'jbo-123': nothing has used it")
    for path in ("/requests", "/overrides", "/records", "/records/close.opportunities", "/snapshot", "/snapshots"):
        assert requests.get(f"{mock}/__mock{path}?namespace=jbo-123", timeout=10).status_code == 404, path
    listed = requests.get(f"{mock}/__mock/namespaces", timeout=10).json()["namespaces"]
    assert "jbo-123" not in [n["name"] for n in listed] and "job-123" in [n["name"] for n in listed]
    right = requests.post(f"{mock}/__mock/verify?namespace=job-123", json={"match": {}, "count": 1}, timeout=10)
    assert right.status_code == 200, right.text
    requests.delete(f"{mock}/__mock/namespaces/job-123", timeout=10).raise_for_status()


def test_with_the_journal_off_a_verify_or_journal_query_is_refused_saying_so():
    with running("--vendor", "close", "--journal-size", "0") as url:
        assert requests.post(f"{url}/api/v1/opportunity/", json=CREATE, headers=CLOSE, timeout=10).status_code == 200
        for method, path, body in (("POST", "/verify", {"match": {}, "count": 0}), ("POST", "/requests/find", {}),
                                   ("GET", "/requests", None)):
            response = requests.request(method, f"{url}/__mock{path}", json=body, timeout=10)
            assert response.status_code == 400, (path, response.text)
            assert response.json()["error"].startswith("the request journal is off (--journal-size 0)")


def test_overrides_do_not_show_secrets_they_match_on(mock):
    override(mock, match={"headers": {"Authorization": "Bearer s3cr3t-abc"}, "query": {"api_key": "s3cr3t-abc"},
                          "credential": "s3cr3t-abc"}, respond={"status": 204})
    assert "s3cr3t-abc" not in requests.get(f"{mock}/__mock/overrides", timeout=10).text
    assert requests.get(f"{mock}/__mock/records/__mock.overrides", timeout=10).status_code == 404


def test_the_journal_filters_like_a_match(mock):
    create_close(mock)
    requests.get(f"{mock}/close/api/v1/status/opportunity/", headers=CLOSE, timeout=10)
    found = requests.get(f"{mock}/__mock/requests", params={"operation": "createOpportunity"}, timeout=10).json()
    assert [e["operation"] for e in found["requests"]] == ["createOpportunity"]
    entry = found["requests"][0]
    assert entry["body"]["value"] == 500 and entry["duration_ms"] > 0 and entry["status"] == 200
    by_body = requests.post(f"{mock}/__mock/requests/find", json={"match": {"body": {"value": 500}}}, timeout=10)
    assert len(by_body.json()["requests"]) == 1


def test_times_count_down_across_workers(tmp_path):
    with running("--workers", "2", "--vendor", "close") as url:
        override(url, match={"operation": "createOpportunity"}, respond={"error": "server_error"}, times=3)
        statuses = []
        for _ in range(20):  # new connections: both workers take some
            statuses.append(requests.post(f"{url}/api/v1/opportunity/", json=CREATE, headers=CLOSE, timeout=10,
                                          ).status_code)
        assert statuses.count(503) == 3 and statuses.count(200) == 17
        (listed,) = requests.get(f"{url}/__mock/overrides", timeout=10).json()["overrides"]
        assert listed["hits"] == 3 and listed["remaining"] == 0


# -- overrides from a file at start, and global chaos -----------------------------------------------------
def test_a_scenario_file_sets_overrides_at_start_and_after_every_reset(tmp_path):
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("- match: {operation: createOpportunity}\n  respond: {error: server_error, status: 502}\n")
    with running("--vendor", "close", "--scenario", str(scenario)) as url:
        assert requests.post(f"{url}/api/v1/opportunity/", json=CREATE, headers=CLOSE, timeout=10).status_code == 502
        requests.post(f"{url}/__mock/reset", timeout=10)
        assert requests.post(f"{url}/api/v1/opportunity/", json=CREATE, headers=CLOSE, timeout=10).status_code == 502


def test_a_bad_scenario_file_is_refused_at_start_naming_the_override(tmp_path):
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("- respond: {error: server_error}\n- respond: {error: teapot}\n")
    result = subprocess.run([sys.executable, "-m", "mock_server", "serve", "--scenario", str(scenario)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "override 2: respond.error: 'teapot'" in result.stderr


def test_a_scenario_file_with_an_infinity_is_refused_at_start_naming_where(tmp_path):
    # YAML has .inf and .nan; JSON has neither, so the override could not be listed.
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("- respond: {status: 200, body: {value: .inf}}\n")
    result = subprocess.run([sys.executable, "-m", "mock_server", "serve", "--scenario", str(scenario)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "override 1: respond.body.value: NaN and Infinity are not JSON numbers" in result.stderr


def test_chaos_is_vendor_shaped_and_repeats_with_the_seed():
    def run() -> list[int]:
        with running("--vendor", "nexudus", "--error-rate", "0.3", "--latency", "5ms±2", "--seed", "7") as url:
            return [requests.get(f"{url}/api/crm/crmboardcolumns", headers=NEXUDUS, timeout=10).status_code
                    for _ in range(40)]

    first = run()
    assert set(first) == {200, 503, 409} and 4 <= first.count(200) <= 36
    assert run() == first


# -- every answer and every fault, on every vendor -------------------------------------------------------
CALLS = {  # one write per vendor, as its client sends it: (path, headers, body, operationId, error keys)
    "close": ("/close/api/v1/opportunity/", CLOSE, CREATE, "createOpportunity", {"error", "errors"}),
    "nexudus": ("/nexudus/api/crm/crmopportunityhistories", NEXUDUS,
                {"CrmOpportunityId": 1204567, "NewCrmBoardColumnId": 301}, "createCrmOpportunityHistory",
                {"Message"}),
    "sprinthub": ("/sprinthub/crmopportunity?id=12&i=acme", SPRINTHUB, {"title": "x", "lead_id": 8473},
                  "createOpportunity", {"msg"}),
}
ERROR_STATUS = {"validation": 400, "unauthorized": 401, "forbidden": 403, "not_found": 404, "server_error": 503}
FOLDED = {("sprinthub", "forbidden"): 401, ("sprinthub", "not_found"): 400}  # SprintHub documents neither


@pytest.mark.parametrize("vendor", sorted(CALLS))
@pytest.mark.parametrize("error", sorted(ERROR_STATUS))
def test_every_named_error_in_every_vendors_shape(mock, vendor, error):
    path, headers, body, operation, keys = CALLS[vendor]
    override(mock, match={"vendor": vendor, "operation": operation}, respond={"error": error}, times=1)
    response = requests.post(f"{mock}{path}", json=body, headers=headers, timeout=10)
    assert response.status_code == FOLDED.get((vendor, error), ERROR_STATUS[error])
    assert keys & set(response.json()), response.json()


@pytest.mark.parametrize("vendor", sorted(CALLS))
@pytest.mark.parametrize("fault, raised", [
    ({"drop": True}, requests.ConnectionError), ({"reset": True}, requests.ConnectionError),
    ({"truncated": True}, requests.exceptions.ChunkedEncodingError),
    ({"timeout_s": 2}, requests.Timeout),
], ids=["drop", "reset", "truncated", "timeout"])
def test_every_fault_on_every_vendor_as_a_client_sees_it(mock, vendor, fault, raised):
    path, headers, body, operation, _ = CALLS[vendor]
    override(mock, match={"vendor": vendor, "operation": operation}, fault=fault, stage="after", times=1)
    with pytest.raises(raised):
        requests.post(f"{mock}{path}", json=body, headers=headers, timeout=1).json()
    assert requests.post(f"{mock}{path}", json=body, headers=headers, timeout=10).status_code == 200  # times: 1
