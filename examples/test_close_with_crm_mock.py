"""Testing code that talks to Close, against crm-mock instead of the real API: copy this file.

With crm-mock installed (`pip install crm-mock closeio`), pytest has the `crm_mock` fixture: a mock
server started for the session (or the one `--crm-mock-url` names), reset before every test, handed
to the test as a `mock_server.Client` to steer it (`fail_next`, `drop_next`, `delay`) and to check
what the client sent (`verify`, `requests`, `records`). Run: `pytest examples/`.
"""
from __future__ import annotations

import time

import pytest
import requests
from closeio_api import API

from mock_server import Client

NEW_DEAL = {"value": 500, "value_period": "monthly", "confidence": 75}


@pytest.fixture
def api(crm_mock: Client) -> API:
    # The official client, pointed at the mock: only the base URL changes from https://api.close.com/api/v1/.
    return API(crm_mock.url("close") + "/", api_key="any-key")


def test_create_an_opportunity(api: API, crm_mock: Client) -> None:
    opportunity = api.post("opportunity", data=NEW_DEAL)
    # The mock answers as Close does: its ID format, its derived fields (cents → "$5 monthly").
    assert opportunity["id"].startswith("oppo_") and opportunity["value_formatted"] == "$5 monthly"
    assert api.get(f"opportunity/{opportunity['id']}") == opportunity  # and it is stored
    crm_mock.verify(operation="createOpportunity", body={"value": 500}, count=1)


def test_the_client_waits_out_a_rate_limit(api: API, crm_mock: Client) -> None:
    # The next create gets Close's own 429 (RateLimit and Retry-After headers, reset in 1 s);
    # closeio sleeps for that long and sends the request again.
    crm_mock.fail_next("createOpportunity", error="rate_limited", retry_after=1)
    started = time.monotonic()
    opportunity = api.post("opportunity", data=NEW_DEAL)
    assert opportunity["value"] == 500 and time.monotonic() - started >= 1
    # The mock saw both calls, the refused one and the retry, each with the same body. A wrong count
    # fails the test listing the nearest requests and what differed in each.
    crm_mock.verify(operation="createOpportunity", body={"value": 500}, count=2)
    stored = [o for o in crm_mock.records("close.opportunities") if o["value"] == 500]
    assert len(stored) == 1  # the 429 stored nothing


def test_a_connection_lost_after_the_write(crm_mock: Client) -> None:
    # closeio retries a lost connection (after 2 s, up to max_retries times); a retried create would store
    # a duplicate. With max_retries=1 the error reaches the caller, as code that must not double-book sees it.
    api = API(crm_mock.url("close") + "/", api_key="any-key", max_retries=1)
    crm_mock.drop_next("createOpportunity")  # stage "after": the mock stores the opportunity, then drops the socket
    with pytest.raises(requests.ConnectionError):
        api.post("opportunity", data=NEW_DEAL)
    # The client heard nothing, yet the write happened: what it must reconcile before trying again.
    assert [o["value"] for o in crm_mock.records("close.opportunities") if o["value"] == 500] == [500]
