"""`--rate-limit`: past the limit each vendor throttles in its own documented way."""
from __future__ import annotations

import json
import urllib.request

import pytest
from closeio_api import API

from mock_server import create_app, parse_rate
from mock_server.pipeline.throttle import RateLimiter  # the limiter itself, with a fake clock
from mock_server.store import MemoryStore, open_store
from mock_server.store.memory import MAX_WINDOWS
from tests.conftest import CLOSE_AUTH, NEXUDUS_AUTH, SPRINTHUB_AUTH, assert_conforms, basic
from tests.test_served_over_http import start

CASES = [
    ("close", "listOpportunityStatuses", "GET", "/api/v1/status/opportunity/", None, CLOSE_AUTH, 429),
    ("nexudus", "listCrmBoardColumns", "GET", "/api/crm/crmboardcolumns", None, NEXUDUS_AUTH, 409),
    ("sprinthub", "createOpportunity", "POST", "/crmopportunity?id=12&i=acme", {"title": "t", "lead_id": 8473},
     SPRINTHUB_AUTH, 401),
]


@pytest.mark.parametrize("vendor, operation_id, method, path, body, auth, status", CASES, ids=[c[0] for c in CASES])
def test_past_the_limit_each_vendor_throttles_in_its_own_shape(vendor, operation_id, method, path, body, auth, status):
    client = create_app(vendor, rate_limit="2/m").test_client()
    answers = [client.open(path, method=method, json=body, headers=auth) for _ in range(3)]
    assert [a.status_code for a in answers[:2]] == [200, 200]
    throttled = answers[2]
    assert throttled.status_code == status
    assert 0 < int(throttled.headers["Retry-After"]) <= 60
    body = assert_conforms(vendor, throttled, operation_id)
    if vendor == "close":
        assert throttled.headers["RateLimit"].startswith("limit=2, remaining=0, reset=")
        assert body["error"]["message"] == "API call count exceeded for this period"
        # the closeio client's recorded 429 body: limit, window (seconds) and what is limited
        assert (body["error"]["rate_limit"], body["error"]["rate_window"], body["error"]["rate_limit_type"]) == \
            (2, 60, "key") and 0 < body["error"]["rate_reset"] <= 60
    if vendor == "sprinthub":
        assert "Too many requests" in body["msg"]


def test_limits_are_per_credential():
    client = create_app("close", rate_limit="1/m").test_client()
    assert client.get("/api/v1/status/opportunity/", headers=basic("alice")).status_code == 200
    assert client.get("/api/v1/status/opportunity/", headers=basic("bob")).status_code == 200
    assert client.get("/api/v1/status/opportunity/", headers=basic("alice")).status_code == 429


def test_the_window_resets(store_url):
    now = [1000.0]
    limiter = RateLimiter("1/s", open_store(store_url), clock=lambda: now[0])
    limiter.store.clear()
    assert limiter.check("k") is None
    refused = limiter.check("k")
    assert refused is not None and "exceeded" in refused.message
    now[0] = 1001.01
    assert limiter.check("k") is None  # a new window
    assert limiter.check("k") is not None


@pytest.mark.parametrize("bad", ["", "10", "0/s", "ten/s", "5/d"])
def test_bad_rates_are_refused(bad):
    with pytest.raises(ValueError):
        parse_rate(bad)


def test_the_official_close_client_backs_off_and_succeeds():
    process, port = start("--vendor", "close", "--rate-limit", "1/s")
    try:
        api = API(f"http://127.0.0.1:{port}/api/v1/", api_key="k")
        first = api.get("status/opportunity")
        assert api.get("status/opportunity") == first  # a 429 in between, waited out by the client
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/__mock/requests", timeout=5) as response:
            journal = json.load(response)
        assert [e["status"] for e in journal["requests"]][-3:] == [200, 429, 200]
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_reset_starts_every_window_afresh():
    client = create_app("close", rate_limit="1/m").test_client()
    assert client.get("/api/v1/status/opportunity/", headers=basic("alice")).status_code == 200
    assert client.get("/api/v1/status/opportunity/", headers=basic("alice")).status_code == 429
    client.post("/__mock/reset")
    assert client.get("/api/v1/status/opportunity/", headers=basic("alice")).status_code == 200


def test_a_flood_of_random_credentials_keeps_the_limiter_bounded():
    now = [0.0]
    limiter = RateLimiter("5/s", MemoryStore(), clock=lambda: now[0])
    for n in range(3 * MAX_WINDOWS):
        limiter.check(f"key-{n}")
        now[0] += 0.0001  # all inside one window: nothing expires by itself
    assert len(limiter.store._windows) <= MAX_WINDOWS


def test_a_credential_never_reaches_the_store_in_clear(tmp_path):
    store = open_store(f"sqlite:{tmp_path / 'mock.db'}")
    RateLimiter("5/s", store).check("Basic c2VjcmV0LWtleTo=")
    assert b"c2VjcmV0LWtleTo" not in (tmp_path / "mock.db").read_bytes() + (tmp_path / "mock.db-wal").read_bytes()


def test_processes_lease_calls_from_one_shared_window_and_never_admit_more_than_the_limit(tmp_path):
    """Two limiters over one SQLite file stand for two worker processes; a 1000/m limit is leased in
    tens, so a process may refuse early by at most one lease, and together they never admit more."""
    now = [5000.0]
    path = f"sqlite:{tmp_path / 'shared.db'}"
    workers = [RateLimiter("1000/m", open_store(path), clock=lambda: now[0]) for _ in range(2)]
    admitted = sum(workers[n % 2].check("one-key") is None for n in range(1500))
    assert 1000 - workers[0].lease <= admitted <= 1000
    now[0] += 60  # the next window: both may admit again
    assert workers[1].check("one-key") is None
