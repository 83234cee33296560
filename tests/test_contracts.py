"""The contract harness: it passes the mock, catches a drifted server, and is safe on live targets."""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import urllib.request
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from requests.structures import CaseInsensitiveDict

import contracts
from contracts import checks, report, runner, targets
from contracts.runner import Options
from mock_server import VENDORS, create_app
from mock_server.live import Throttle
from mock_server.serve.cli import main  # the command line itself, as a user runs it
from tests.conftest import served
from tests.drifted_app import (
    API_KEY,
    CREDENTIALS,
    DRIFTS,
    OPERATIONS,
    create_drifted_app,
    create_forgetful_close,
)
from tests.test_served_over_http import free_port, running, start

# `make test`'s share of `make contract`: every vendor, every phase, a small budget, a fixed seed.
SMALL_BUDGET = Options(max_examples=10, seed=20240601, stateful=True)
CREDENTIAL_VARIABLES = ("CLOSE_API_KEY", "NEXUDUS_TOKEN", "NEXUDUS_USERNAME", "NEXUDUS_PASSWORD",
                        "SPRINTHUB_TOKEN", "SPRINTHUB_APITOKEN", "SPRINTHUB_INSTANCE")


ADMIN_KEY = "harness-admin"  # the keys file locks /__mock/: the tests read it as the admin


def get_json(url: str):
    request = urllib.request.Request(url, headers={"X-Crm-Mock-Admin-Key": ADMIN_KEY})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def failures_of(result) -> set[tuple[str, str]]:
    return {(label, failure.check) for label, failure in result.failures}


# -- the mock keeps its contract ---------------------------------------------------------------------
@pytest.mark.parametrize("vendor", VENDORS)
def test_mock_keeps_its_contract_on_a_small_budget(vendor):
    (result,) = contracts.run([vendor], "mock", SMALL_BUDGET)
    assert result.operations and all(op.cases for op in result.operations.values())
    assert result.ok, report.markdown([result])


# -- drift is caught, by the right check ----------------------------------------------------------------
@pytest.fixture(scope="module")
def drift_result():
    target = targets.in_process("close", create_drifted_app(), CREDENTIALS, name="drifted app")
    return runner.run(target, Options(max_examples=10, seed=1, operations=OPERATIONS))


@pytest.mark.parametrize("drift", DRIFTS)
def test_each_drift_is_reported_with_the_right_check(drift_result, drift):
    assert DRIFTS[drift] in failures_of(drift_result), sorted(failures_of(drift_result))


def test_drift_fails_the_run_and_masks_credentials(drift_result):
    assert not drift_result.ok
    encoded = base64.b64encode(f"{API_KEY}:".encode()).decode()
    for _, failure in drift_result.failures:
        assert failure.curl.startswith("curl -X ")
        assert API_KEY not in failure.curl and encoded not in failure.curl


def test_a_read_that_differs_from_the_write_is_caught():
    credentials = targets.MOCK_CREDENTIALS["close"]
    target = targets.in_process("close", create_forgetful_close(credentials), credentials)
    options = Options(max_examples=10, seed=1, stateful=True, operations=("createOpportunity", "getOpportunity"))
    result = runner.run(target, options)
    assert ("GET /opportunity/{id}/", "read_after_write") in failures_of(result)
    assert "value_period" in next(f.message for label, f in result.failures if f.check == "read_after_write")


def test_cli_against_a_live_drifted_server(tmp_path):
    md, xml = tmp_path / "report.md", tmp_path / "junit.xml"
    with served(create_drifted_app()) as url:
        outcome = CliRunner().invoke(main, [
            "contract", "close", "--target", f"{url}/api/v1", "--max-examples", "5", "--seed", "3",
            "--rate", "1000/s", "--report", str(md), "--junit", str(xml)], env={"CLOSE_API_KEY": API_KEY})
    assert outcome.exit_code == 1, outcome.output
    assert "response_schema_conformance" in outcome.output and "curl -X GET" in outcome.output
    text = md.read_text()
    assert "GET /opportunity/" in text and "content_type_conformance" in text
    suites = ET.parse(xml).getroot()
    failures = suites.findall(".//testcase/failure")
    assert failures and int(suites.get("failures")) == len(failures)
    assert {f.get("type") for f in failures} >= {"response_schema_conformance", "content_type_conformance"}
    encoded = base64.b64encode(f"{API_KEY}:".encode()).decode()
    for output in (outcome.output, text, xml.read_text()):
        assert API_KEY not in output and encoded not in output


# -- live targets: credentials, safety, cleanup, throttling ------------------------------------------------
@pytest.mark.parametrize("vendor, env, named", [
    ("close", {}, ["CLOSE_API_KEY"]),
    ("nexudus", {}, ["NEXUDUS_TOKEN"]),
    ("nexudus", {"NEXUDUS_USERNAME": "me@example.com"}, ["NEXUDUS_PASSWORD"]),
    ("sprinthub", {"SPRINTHUB_TOKEN": "t"}, ["SPRINTHUB_APITOKEN", "SPRINTHUB_INSTANCE"]),
])
def test_a_missing_credential_variable_is_named(vendor, env, named):
    cleared = {name: None for name in CREDENTIAL_VARIABLES}
    outcome = CliRunner().invoke(main, ["contract", vendor, "--target", "https://example.invalid/api"],
                                 env={**cleared, **env})
    assert outcome.exit_code == 2
    for name in named:
        assert name in outcome.output
    assert "environment" in outcome.output


def live_mock(vendor: str = "close", **options):
    """The mock, to serve over a socket, accepting only the credentials a live run reads from the environment."""
    return create_app(vendor, keys={vendor: [{"credentials": {"ApiKeyAuth": "live-key:"}}]}, admin_key=ADMIN_KEY,
                      **options)


def test_a_live_run_is_read_only_unless_writes_are_allowed():
    with served(live_mock()) as url:
        (result,) = contracts.run(["close"], f"{url}/api/v1", Options(max_examples=5, seed=1),
                                  env={"CLOSE_API_KEY": "live-key"}, rate="1000/s")
        methods = {entry["method"] for entry in get_json(f"{url}/__mock/requests")["requests"]}
    assert result.operations and all(label.startswith("GET ") for label in result.operations)
    assert methods == {"GET"}


def test_live_writes_touch_only_what_the_run_created_and_are_deleted_at_the_end():
    with served(live_mock(seed_data=3)) as url:  # three opportunities the account already had
        before = get_json(f"{url}/__mock/records/close.opportunities")["records"]
        counts = get_json(f"{url}/__mock/records")["collections"]
        (result,) = contracts.run(["close"], f"{url}/api/v1",
                                  Options(max_examples=5, seed=1, allow_writes=True, stateful=True),
                                  env={"CLOSE_API_KEY": "live-key"}, rate="1000/s")
        after = get_json(f"{url}/__mock/records/close.opportunities")["records"]
        counts_after = get_json(f"{url}/__mock/records")["collections"]
    cleanup = result.cleanup
    assert cleanup is not None and cleanup.deleted > 0 and not cleanup.failed and not cleanup.left_behind
    assert after == before
    # Side effects too: the status-change activities and the "Untitled" leads the creates made.
    assert counts_after == counts


class FakeTime:
    def __init__(self):
        self.now, self.slept = 0.0, []

    def sleep(self, seconds):
        self.slept.append(round(seconds, 3))
        self.now += seconds

    def clock(self):
        return self.now


def answers(*responses):
    """A `send` returning these (status, headers) answers in turn."""
    queue = [SimpleNamespace(status_code=s, headers=CaseInsensitiveDict(h), content=b"") for s, h in responses]
    return lambda: queue.pop(0)


@pytest.mark.parametrize("vendor, first, waits", [
    ("close", (429, {"Retry-After": "2"}), [2.0]),
    ("close", (429, {"RateLimit": "limit=10, remaining=0, reset=3"}), [3.0]),
    ("nexudus", (409, {"Retry-After": "1"}), [1.0]),
    ("nexudus", (409, {}), []),  # a 409 without Retry-After is a real conflict, not throttling
    ("close", (409, {"Retry-After": "1"}), []),
])
def test_throttling_answers_are_waited_out(vendor, first, waits):
    fake = FakeTime()
    throttle = Throttle(vendor, "1000/s", sleep=fake.sleep, clock=fake.clock)
    response = throttle.call(answers(first, (200, {})))
    assert response.status_code == (200 if waits else first[0])
    assert [s for s in fake.slept if s >= 0.5] == waits


def test_requests_are_spaced_under_the_rate_cap():
    fake = FakeTime()
    throttle = Throttle("nexudus", "120/m", sleep=fake.sleep, clock=fake.clock)
    for _ in range(3):
        throttle.call(answers((200, {})))
    assert fake.now == pytest.approx(1.0)  # three calls at 2/s: the second and third wait 0.5 s each


# -- vendor checks ------------------------------------------------------------------------------------------
def fake_case(vendor, operation_id, method="GET", query=None, body=None, path=None):
    operation = SimpleNamespace(schema=SimpleNamespace(raw_schema={checks.VENDOR_KEY: vendor}),
                                definition=SimpleNamespace(raw={"operationId": operation_id}))
    return SimpleNamespace(operation=operation, method=method, query=query or {}, body=body,
                           path_parameters=path or {})


def fake_response(status, body):
    return SimpleNamespace(status_code=status, json=lambda: body)


CLOSE_ID = "oppo_" + "a" * 43
NEXUDUS_PAGE = {"Records": [{"Id": 1}], "CurrentPage": 1, "CurrentPageSize": 25, "TotalItems": 1, "TotalPages": 1,
                "FirstItem": 1, "LastItem": 1, "HasNextPage": False, "HasPreviousPage": False}


@pytest.mark.parametrize("check, case, response, complaint", [
    (checks.nexudus_action_result, fake_case("nexudus", "createCrmOpportunityHistory", "POST"),
     fake_response(200, {"Status": 200, "WasSuccessful": True, "Errors": []}), "`Errors` is not null"),
    (checks.nexudus_action_result, fake_case("nexudus", "deleteCrmOpportunityHistory", "DELETE"),
     fake_response(400, {"Message": "x", "WasSuccessful": True, "Errors": None}), "WasSuccessful is true on a 400"),
    (checks.vendor_error_body, fake_case("close", "createOpportunity", "POST"),
     fake_response(400, {"error": "bad"}), "never a top-level `error`"),
    (checks.vendor_error_body, fake_case("sprinthub", "createOpportunity", "POST"),
     fake_response(401, {"message": "no"}), "neither `msg` nor `error`"),
    (checks.vendor_id_format, fake_case("close", "getOpportunity"),
     fake_response(200, {"id": CLOSE_ID, "lead_id": "user_" + "a" * 43}), "/lead_id"),
    (checks.list_envelope, fake_case("close", "listOpportunities", query={"_limit": 1}),
     fake_response(200, {"data": [{}, {}], "has_more": False}), "2 records on a page of at most 1"),
    (checks.list_envelope, fake_case("nexudus", "listCrmOpportunityHistories"),
     fake_response(200, {**NEXUDUS_PAGE, "HasNextPage": True}), "HasNextPage is True on page 1 of 1"),
])
def test_vendor_checks_reject_what_the_vendor_never_sends(check, case, response, complaint):
    with pytest.raises(AssertionError, match=complaint.replace("*", r"\*").replace("?", r"\?")):
        check(None, response, case)


def test_vendor_checks_accept_what_the_vendor_sends():
    assert checks.list_envelope(None, fake_response(200, NEXUDUS_PAGE), fake_case("nexudus", "list")) is None
    ok_error = {"errors": [], "field-errors": {"value": "Must be an integer."}}
    assert checks.vendor_error_body(None, fake_response(400, ok_error), fake_case("close", "createOpportunity")) is None
    get = fake_case("close", "getOpportunity")
    assert checks.vendor_id_format(None, fake_response(200, {"id": CLOSE_ID}), get) is None


def test_what_was_written_is_what_is_read():
    check = checks.read_after_write()
    create = fake_case("close", "createOpportunity", "POST", body={"note": "hello", "value": 500})
    check.after_response(None, fake_response(200, {"id": CLOSE_ID, "note": "hello", "value": 500}), create)
    read = fake_case("close", "getOpportunity", path={"id": CLOSE_ID})
    check.after_response(None, fake_response(200, {"id": CLOSE_ID, "note": "hello", "value": 500}), read)
    with pytest.raises(AssertionError, match="`value` sent 500, read 499"):
        check.after_response(None, fake_response(200, {"id": CLOSE_ID, "note": "hello", "value": 499}), read)


def test_the_harness_transport_is_used():
    """route_requests relies on Schemathesis' `schema.transport` property: an upgrade that changes
    how transports are chosen must fail here, not silently send requests another way."""
    schema = runner.load_schema(targets.mock("close"), Options(max_examples=1, seed=1))
    transport = targets.InProcessTransport()
    targets.route_requests(schema, transport)
    assert schema.transport is transport
    operation = next(iter(schema.get_all_operations())).ok()
    assert operation.schema.transport is transport


def test_an_unreachable_target_is_a_usage_error_within_seconds():
    port = free_port()  # nothing listens there
    started = time.monotonic()
    outcome = CliRunner().invoke(main, ["contract", "close", "--target", f"http://127.0.0.1:{port}/api/v1"],
                                 env={"CLOSE_API_KEY": "k"})
    assert outcome.exit_code == 2 and time.monotonic() - started < 10
    assert f"cannot reach http://127.0.0.1:{port}/api/v1" in outcome.output and "ConnectionError" in outcome.output


def test_the_readme_recipe_against_a_running_server_passes_in_seconds(tmp_path):
    """`crm-mock serve --keys` + `crm-mock contract --target URL`, both as a user runs them."""
    keys = tmp_path / "keys.yaml"
    keys.write_text('close:\n  - credentials: {ApiKeyAuth: "api_ci:"}\n')
    process, port = start("--keys", str(keys), "--admin-key", "ci-admin")
    try:
        started = time.monotonic()
        outcome = subprocess.run(
            [sys.executable, "-m", "mock_server", "contract", "close", "--target",
             f"http://127.0.0.1:{port}/close/api/v1", "--max-examples", "5", "--seed", "1"],
            capture_output=True, text=True, env={**os.environ, "CLOSE_API_KEY": "api_ci"}, timeout=300)
        assert outcome.returncode == 0, outcome.stdout[-2000:]
        assert time.monotonic() - started < 60  # loopback: not paced like the vendor
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_target_that_accepts_any_credential_is_named_as_the_cause():
    with served(create_app("close")) as url:  # zero config: any credential is accepted
        (result,) = contracts.run(["close"], f"{url}/api/v1",
                                  Options(max_examples=2, seed=1, operations=("listOpportunityStatuses",)),
                                  env={"CLOSE_API_KEY": "whatever"})
    assert any(f.check == "ignored_auth" for _, f in result.failures)
    assert any("start it with --keys" in note for note in report._notes(result))


def test_all_three_specs_with_negative_data_against_a_running_server_find_no_server_error(tmp_path):
    """Every vendor, writes allowed, Schemathesis' positive and negative data, over a real socket:
    the harness passes, the server refused what was invalid, and its journal holds no 5xx."""
    keys = tmp_path / "keys.yaml"
    keys.write_text('close:\n  - credentials: {ApiKeyAuth: "api_ci:"}\nnexudus:\n  - credentials: {OAuth2: "ci"}\n'
                    'sprinthub:\n  - credentials: {BearerAuth: "ci", ApiToken: "ci-api"}\n')
    env = {**os.environ, "CLOSE_API_KEY": "api_ci", "NEXUDUS_TOKEN": "ci", "SPRINTHUB_TOKEN": "ci",
           "SPRINTHUB_APITOKEN": "ci-api", "SPRINTHUB_INSTANCE": "acme"}
    with running("--keys", str(keys), "--admin-key", ADMIN_KEY, "--journal-size", "20000") as url:
        outcome = subprocess.run([sys.executable, "-m", "mock_server", "contract", "all", "--target", url,
                                  "--max-examples", "10", "--seed", "3", "--allow-writes"],
                                 capture_output=True, text=True, env=env, timeout=300)
        journal = get_json(f"{url}/__mock/requests")["requests"]
    assert outcome.returncode == 0, outcome.stdout[-3000:]
    statuses = [entry["status"] for entry in journal]
    assert 400 in statuses and {e["vendor"] for e in journal} == {"close", "nexudus", "sprinthub"}
    assert not [s for s in statuses if s >= 500]
