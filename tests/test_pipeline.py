"""The pipeline's seams: named stages in a fixed order, and a stage a user adds, over a real socket."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from mock_server import (
    DEFAULT_REQUEST_STAGES,
    Exchange,
    MockError,
    Stage,
    create_app,
    insert_stage,
    state_of,
)
from tests.conftest import CLOSE_AUTH, served


def call(method: str, url: str, body: dict | None = None, headers: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def names(app) -> list[str]:
    return state_of(app).pipelines[0].stage_names


def test_stages_run_in_the_documented_order_and_switched_off_features_cost_nothing():
    assert names(create_app("close")) == ["limits", "namespace", "route", "authenticate", "validate", "override",
                                          "handle", "envelope", "override_after", "journal"]
    both = create_app("close", rate_limit="5/s", strict=True)
    assert names(both) == ["limits", "namespace", "route", "authenticate", "throttle", "validate", "override",
                           "handle", "envelope", "self_check", "override_after", "journal"]
    assert "journal" not in names(create_app("close", journal_size=0))  # --journal-size 0: like WireMock's
    # --no-request-journal, no journal stage at all


class Maintenance(Stage):
    """A user's stage: a request carrying `X-Maintenance` is refused before the vendor sees it."""

    name = "maintenance"

    def __call__(self, exchange: Exchange):
        if exchange.request.headers.get("X-Maintenance"):
            return MockError(503, "unavailable", "Down for maintenance.")
        return None


def test_an_inserted_stage_refuses_in_the_vendors_shape_and_nothing_is_stored():
    stages = insert_stage(DEFAULT_REQUEST_STAGES, Maintenance, before="handle")
    app = create_app("close", request_stages=stages)
    assert names(app)[:8] == ["limits", "namespace", "route", "authenticate", "validate", "override", "maintenance",
                              "handle"]
    with served(app) as url:
        before = call("GET", f"{url}/__mock/records")[1]
        status, body = call("POST", f"{url}/api/v1/opportunity/", {"value": 500},
                            {**CLOSE_AUTH, "X-Maintenance": "1"})
        assert (status, body) == (503, {"error": "Down for maintenance."})  # Close's error envelope
        assert call("GET", f"{url}/__mock/records")[1] == before
        journal = call("GET", f"{url}/__mock/requests")[1]["requests"]
        assert journal[-1]["status"] == 503 and journal[-1]["operation"] == "createOpportunity"
        status, body = call("POST", f"{url}/api/v1/opportunity/", {"value": 500}, CLOSE_AUTH)
        assert status == 200 and body["value_formatted"] == "$5"


def test_insert_stage_names_the_stages_when_the_anchor_is_unknown():
    with pytest.raises(ValueError, match="limits, namespace, route, authenticate, throttle, validate, chaos, override, handle"):
        insert_stage(DEFAULT_REQUEST_STAGES, Maintenance, after="overrides")
