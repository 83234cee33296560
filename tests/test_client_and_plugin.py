"""The Python control client (`mock_server.Client`) against a real `crm-mock serve`, and the pytest
plugin (`crm_mock` fixture and marker) run in a separate pytest, loaded through its entry point."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from mock_server import Client, ControlError, VerificationError
from tests.test_served_over_http import start

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
CLOSE = ("api_key", "")  # any well-formed Close API key, as the Basic username
CREATE = {"value": 500, "value_period": "monthly", "confidence": 75}


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGINT)  # gunicorn's quick stop; SIGTERM waits out a 3 s graceful timeout
    process.wait(timeout=10)


@pytest.fixture(scope="module")
def served():
    process, port = start()  # all vendors, the default server
    yield f"http://127.0.0.1:{port}"
    stop(process)


@pytest.fixture
def mock(served) -> Client:
    client = Client(served)
    client.reset()
    return client


def create(mock: Client, body: dict = CREATE) -> requests.Response:
    return requests.post(mock.url("close") + "/opportunity/", json=body, auth=CLOSE, timeout=10)


# -- the client -----------------------------------------------------------------------------------------
def test_health_and_vendor_urls(mock, served):
    assert mock.health()["status"] == "ok"
    assert mock.url("close") == f"{served}/close/api/v1"
    assert mock.url("sprinthub") == f"{served}/sprinthub"
    with pytest.raises(ValueError, match="'hubspot' is not served"):
        mock.url("hubspot")


def test_reset_records_and_seed_data(mock):
    assert create(mock).status_code == 200
    assert mock.records()["close.opportunities"] == 2  # and seed 003's example opportunity
    mock.reset(seed_data=3)
    opportunities = mock.records("close.opportunities")
    assert len(opportunities) == 4 and all(o["id"].startswith("oppo_") for o in opportunities)
    assert mock.requests() == []  # a reset clears the journal too


def test_fail_next_answers_in_the_vendors_shape_then_lets_calls_through(mock):
    stored = mock.fail_next("createOpportunity", error="server_error", status=502, vendor="close")
    assert stored["match"] == {"operation": "createOpportunity", "vendor": "close"} and stored["times"] == 1
    first = create(mock)
    assert first.status_code == 502 and set(first.json()) == {"error"}
    assert create(mock).status_code == 200


def test_override_merges_keyword_match_fields(mock):
    mock.override(match={"vendor": "close"}, respond={"status": 202, "body": {"queued": True}}, method="POST",
                  body={"value": 1})
    assert create(mock).status_code == 200  # value 500: not matched
    response = create(mock, {"value": 1})
    assert (response.status_code, response.json()) == (202, {"queued": True})


def test_delay_slows_the_operation(mock):
    mock.delay("createOpportunity", ms=400, times=1)
    started = time.monotonic()
    assert create(mock).status_code == 200
    assert time.monotonic() - started >= 0.4


def test_drop_next_stores_then_drops(mock):
    mock.drop_next("createOpportunity")
    with pytest.raises(requests.ConnectionError):
        create(mock)
    assert [o["value"] for o in mock.records("close.opportunities")] == [0, 500]  # seed 003's, then this one


def test_list_and_remove_overrides(mock):
    one = mock.delay("createOpportunity", ms=1)
    mock.delay("listOpportunities", ms=1)
    assert {o["id"] for o in mock.overrides()} >= {one["id"]} and len(mock.overrides()) == 2
    assert mock.remove_override(one["id"]) == 1
    assert [o["match"]["operation"] for o in mock.overrides()] == ["listOpportunities"]
    assert mock.remove_override() == 1 and mock.overrides() == []


def test_requests_by_simple_filters_and_by_body(mock):
    create(mock)
    create(mock, {"value": 7})
    requests.get(mock.url("close") + "/status/opportunity/", auth=CLOSE, timeout=10)
    assert len(mock.requests(operation="createOpportunity")) == 2  # GET /__mock/requests
    assert [e["body"]["value"] for e in mock.requests(body={"value": 7})] == [7]  # POST /__mock/requests/find
    assert [e["body"]["value"] for e in mock.requests({"operation": "createOpportunity"}, limit=1)] == [7]
    assert mock.requests(status=200, method="GET")[0]["operation"] == "listOpportunityStatuses"
    assert mock.requests(operation="createOpportunity")[0]["headers"]["Authorization"] == "Basic ***"


def test_verify_takes_status_and_since_as_the_server_does(mock):
    # They were taken as match fields: a 400 "match.status: unknown field".
    assert create(mock).status_code == 200
    assert create(mock, {"value": "not a number"}).status_code == 400
    assert mock.verify(operation="createOpportunity", status=200, count=1)["count"] == 1
    assert mock.verify(operation="createOpportunity", status=400, count=1)["count"] == 1
    later = mock.requests()[-1]["time"]
    assert mock.verify(operation="createOpportunity", since=later, count=1)["count"] == 1
    with pytest.raises(VerificationError):
        mock.verify(operation="createOpportunity", status=201, min=1)


def test_verify_holds_and_explains_a_miss(mock):
    create(mock)
    answer = mock.verify(operation="createOpportunity", body={"value": 500}, count=1)
    assert answer["ok"] and answer["count"] == 1
    assert mock.verify({"vendor": "close"}, min=1, max=2)["expected"] == "at least 1 and at most 2"
    with pytest.raises(VerificationError) as missed:
        mock.verify(operation="createOpportunity", body={"value": 9}, count=1)
    lines = str(missed.value).splitlines()
    assert lines[0] == ('expected exactly 1 request(s) matching {"body": {"value": 9}, "operation": "createOpportunity"}, '
                        'got 0')
    assert lines[1:4] == ["near misses, closest first:", "  POST /close/api/v1/opportunity/ -> 200",
                          "    body.value: expected 9, got 500"]
    assert isinstance(missed.value, AssertionError) and missed.value.result["count"] == 0


def test_verify_with_nothing_journaled_says_so(mock):
    with pytest.raises(VerificationError, match="got 0\nno other requests were journaled"):
        mock.verify(operation="createOpportunity")


def test_control_errors_carry_the_servers_message(mock):
    with pytest.raises(ControlError) as bad:
        mock.override(respond={"error": "teapot"})
    assert bad.value.status == 400 and "respond.error: 'teapot' is not one of" in bad.value.message
    with pytest.raises(ControlError, match="404: no override 'ovr_missing'"):
        mock.remove_override("ovr_missing")
    with pytest.raises(ControlError, match="match.vendor: unknown vendor"):
        mock.verify(vendor="hubspot", count=1)


def test_the_admin_key_is_sent():
    process, port = start("--admin-key", "s3cret")
    try:
        with pytest.raises(ControlError) as refused:
            Client(f"http://127.0.0.1:{port}").reset()
        assert refused.value.status == 401 and "X-Crm-Mock-Admin-Key" in refused.value.message
        assert Client(f"http://127.0.0.1:{port}", admin_key="s3cret").reset()["status"] == "reset"
    finally:
        stop(process)


# -- the pytest plugin, in a pytest of its own --------------------------------------------------------------
@pytest.fixture
def isolated(pytester, monkeypatch) -> pytest.Pytester:
    """A pytester whose runs start their own server, whatever this shell points at."""
    # PYTEST_XDIST_WORKER too: when this suite runs under xdist, the inner runs are not its workers.
    for name in ("CRM_MOCK_URL", "CRM_MOCK_ADMIN_KEY", "CRM_MOCK_KEYS", "CRM_MOCK_NAMESPACE", "PYTEST_XDIST_WORKER"):
        monkeypatch.delenv(name, raising=False)
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=120)


def test_the_fixture_resets_and_the_marker_picks_a_server(isolated):
    isolated.makefile(".yaml", nexudus_keys="nexudus:\n  - credentials: {OAuth2: token-bob}\n    user: {FullName: Bob}\n")
    isolated.makepyfile("""
        import pytest
        import requests

        SEEN = []
        ALICE = {"close": [{"credentials": {"ApiKeyAuth": "api_alice:"}, "user": {"name": "Alice"}}]}

        def test_default_world(crm_mock):
            SEEN.append(crm_mock.base_url)
            assert crm_mock.health()["vendors"]["close"] == "/close/api/v1/"
            assert requests.post(crm_mock.url("close") + "/opportunity/", json={"value": 1}, auth=("k", "")).ok
            crm_mock.fail_next("createOpportunity")

        def test_each_test_starts_afresh(crm_mock):
            SEEN.append(crm_mock.base_url)
            assert crm_mock.requests() == [] and crm_mock.overrides() == []
            assert crm_mock.records()["close.opportunities"] == 1  # only seed 003's example

        @pytest.mark.crm_mock(seed_data=4)
        def test_seed_data_on_the_same_server(crm_mock):
            SEEN.append(crm_mock.base_url)
            assert len(crm_mock.records("close.opportunities")) == 5

        @pytest.mark.crm_mock(vendor="close", keys=ALICE)
        def test_keys_as_a_dict_and_one_vendor(crm_mock):
            SEEN.append(crm_mock.base_url)
            statuses = crm_mock.url("close") + "/status/opportunity/"
            assert crm_mock.url("close").endswith("/api/v1") and crm_mock.admin_key
            assert requests.get(statuses, auth=("api_alice", "")).status_code == 200
            assert requests.get(statuses, auth=("api_eve", "")).status_code == 401
            crm_mock.verify(user={"name": "Alice"}, count=1)

        @pytest.mark.crm_mock(vendor="nexudus", keys="nexudus_keys.yaml")
        def test_keys_as_a_path(crm_mock):
            columns = crm_mock.url("nexudus") + "/crm/crmboardcolumns"
            assert requests.get(columns, headers={"Authorization": "Bearer token-bob"}).status_code == 200
            assert requests.get(columns, headers={"Authorization": "Bearer token-eve"}).status_code == 401

        def test_one_server_per_configuration():
            assert SEEN[0] == SEEN[1] == SEEN[2] != SEEN[3]
    """)
    result = run(isolated)
    result.assert_outcomes(passed=6)
    started = [line for line in result.outlines if line.startswith("started http://127.0.0.1:")]
    assert len(started) == 3  # one server per configuration, the admin key not shown
    assert started[0].endswith("(serve --vendor all --seed 0)")
    assert "--vendor close --seed 0 --keys " in started[1] and "admin" not in started[1]  # the key travels in the env
    assert f"--vendor nexudus --seed 0 --keys {isolated.path / 'nexudus_keys.yaml'})" in started[2]


def test_a_world_set_up_once_is_where_every_test_marked_with_its_snapshot_starts(isolated):
    isolated.makepyfile("""
        import pytest
        import requests

        @pytest.fixture(scope="session", autouse=True)
        def set_up(crm_mock_session):
            mock = crm_mock_session(vendor="close")
            mock.reset(seed_data=7)
            requests.post(mock.url("close") + "/opportunity/", json={"note": "made in set-up"}, auth=("k", ""))
            mock.save_snapshot("after-setup")

        @pytest.mark.crm_mock(vendor="close", snapshot="after-setup")
        @pytest.mark.parametrize("run", [1, 2])
        def test_starts_from_the_snapshot(crm_mock, run):
            opportunities = crm_mock.records("close.opportunities")
            assert len(opportunities) == 9 and "made in set-up" in [o["note"] for o in opportunities]
            requests.post(crm_mock.url("close") + "/opportunity/", json={"value": run}, auth=("k", ""))
            assert crm_mock.requests() == [crm_mock.requests()[0]]  # this test's own journal only

        @pytest.mark.crm_mock(vendor="close")
        def test_without_it_the_seeded_world(crm_mock):
            assert len(crm_mock.records("close.opportunities")) == 1

        @pytest.mark.crm_mock(vendor="close", snapshot="never-saved")
        def test_a_missing_snapshot_says_how_to_make_it(crm_mock):
            pass
    """)
    result = run(isolated)
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*no snapshot 'never-saved'*save_snapshot('never-saved')*"])


def test_a_failing_verify_fails_the_test_with_the_near_misses(isolated):
    isolated.makepyfile("""
        import requests

        def test_posts_the_wrong_value(crm_mock):
            requests.post(crm_mock.url("close") + "/opportunity/", json={"value": 500}, auth=("k", ""))
            crm_mock.verify(operation="createOpportunity", body={"value": 9}, count=1)
    """)
    result = run(isolated)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*crm_mock.verify(operation=\"createOpportunity\", body={\"value\": 9}, count=1)",
        "E *VerificationError: expected exactly 1 request(s) matching *, got 0",
        "E *near misses, closest first:",
        "E *POST /close/api/v1/opportunity/ -> 200",
        "E *body.value: expected 9, got 500",
    ])


def test_a_server_that_cannot_start_is_reported_with_its_stderr(isolated):
    isolated.makepyfile("""
        import pytest

        @pytest.mark.crm_mock(keys={"hubspot": []})
        def test_uses_a_bad_keys_file(crm_mock):
            pass
    """)
    result = run(isolated)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*RuntimeError: crm-mock: `*serve*` exited with status 2; its stderr:", "*hubspot*"])


def test_a_bad_marker_names_the_options(isolated):
    isolated.makepyfile("""
        import pytest

        @pytest.mark.crm_mock(vendr="close")
        def test_typo(crm_mock):
            pass
    """)
    result = run(isolated)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*@pytest.mark.crm_mock takes vendor, seed, seed_data, keys*vendr*"])


def test_without_the_fixture_no_server_starts(isolated):
    isolated.makepyfile("def test_plain():\n    assert True\n")
    result = run(isolated)
    result.assert_outcomes(passed=1)
    assert "started http" not in result.stdout.str()  # the plugin's summary lists every server it starts


@pytest.mark.parametrize("how", ["option", "environment"])
def test_an_existing_server_is_used_and_none_started(isolated, monkeypatch, how):
    process, port = start("--seed", "7", "--admin-key", "s3cret")
    url = f"http://127.0.0.1:{port}"
    try:
        isolated.makepyfile("""
            import requests

            def test_talks_to_the_existing_server(crm_mock):
                assert crm_mock.health()["seed"] == 7
                requests.post(crm_mock.url("close") + "/opportunity/", json={"value": 42}, auth=("k", ""))
                crm_mock.verify(operation="createOpportunity", count=1)
        """)
        if how == "option":
            result = run(isolated, "--crm-mock-url", url, "--crm-mock-admin-key", "s3cret")
        else:
            monkeypatch.setenv("CRM_MOCK_URL", url)
            monkeypatch.setenv("CRM_MOCK_ADMIN_KEY", "s3cret")
            result = run(isolated)
        result.assert_outcomes(passed=1)
        assert f"used {url} " in result.stdout.str() and "started http" not in result.stdout.str()
        journal = Client(url, admin_key="s3cret").requests(operation="createOpportunity")
        assert [entry["body"] for entry in journal] == [{"value": 42}]  # this server saw the test's request
    finally:
        stop(process)


def test_the_session_summary_shows_a_server_url_without_its_password(isolated):
    process, port = start()
    try:
        isolated.makepyfile("def test_health(crm_mock):\n    assert crm_mock.health()['status'] == 'ok'\n")
        result = run(isolated, "--crm-mock-url", f"http://ci:S3CRET@127.0.0.1:{port}")
        result.assert_outcomes(passed=1)
        assert f"used http://ci:***@127.0.0.1:{port} " in result.stdout.str() and "S3CRET" not in result.stdout.str()
    finally:
        stop(process)


def test_ci_jobs_sharing_one_server_each_run_in_their_own_namespace(isolated):
    """Three "CI jobs" (pytest runs with --crm-mock-namespace) on one server: each sees only its own
    writes, and the server's default namespace sees none of them. A job that passes leaves nothing
    behind (its namespace is dropped at session end); a failed job's stays, to look at."""
    process, port = start("--admin-key", "s3cret")
    url = f"http://127.0.0.1:{port}"
    try:
        isolated.makepyfile("""
            import requests

            def test_writes_and_sees_only_its_own(crm_mock, request):
                job = request.config.getoption("crm_mock_namespace")
                assert f"/__ns/{job}/close/api/v1" in crm_mock.url("close")
                requests.post(crm_mock.url("close") + "/opportunity/", json={"value": 1, "note": job}, auth=("k", ""))
                listed = requests.get(crm_mock.url("close") + "/opportunity/", auth=("k", "")).json()
                assert [o["note"] for o in listed["data"] if o["note"]] == [job]  # and no other job's
                crm_mock.verify(operation="createOpportunity", body={"note": job}, count=1)
                assert job != "job-3", "this job fails"
        """)
        for job in ("job-1", "job-2"):
            run(isolated, "--crm-mock-url", url, "--crm-mock-admin-key", "s3cret",
                "--crm-mock-namespace", job).assert_outcomes(passed=1)
        run(isolated, "--crm-mock-url", url, "--crm-mock-admin-key", "s3cret",
            "--crm-mock-namespace", "job-3").assert_outcomes(failed=1)
        default = Client(url, admin_key="s3cret")
        prepared = default.in_namespace("job-4")  # made before the session (a CI step's snapshot): it stays
        prepared.reset()
        prepared.save_snapshot("prepared")
        run(isolated, "--crm-mock-url", url, "--crm-mock-admin-key", "s3cret",
            "--crm-mock-namespace", "job-4").assert_outcomes(passed=1)
        assert [s["name"] for s in prepared.snapshots()] == ["prepared"]
        assert default.requests(operation="createOpportunity") == []
        assert {n["name"] for n in default.namespaces()} & {"job-1", "job-2", "job-3", "job-4"} == {"job-3", "job-4"}
        assert [e["body"]["note"] for e in default.in_namespace("job-3").requests(operation="createOpportunity")] \
            == ["job-3"]
    finally:
        stop(process)


def test_the_example_file_passes(monkeypatch):
    # PYTEST_XDIST_WORKER too: when this suite runs under xdist, the inner runs are not its workers.
    for name in ("CRM_MOCK_URL", "CRM_MOCK_ADMIN_KEY", "CRM_MOCK_KEYS", "CRM_MOCK_NAMESPACE", "PYTEST_XDIST_WORKER"):
        monkeypatch.delenv(name, raising=False)
    done = subprocess.run([sys.executable, "-m", "pytest", "examples/", "-q", "-p", "no:cacheprovider"], cwd=ROOT,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout
