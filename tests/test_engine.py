"""Vendor-neutral guarantees of the pipeline: prefixes, strict mode, no stack traces, control API."""
from __future__ import annotations

import pytest

from mock_server import Reply, create_app
from mock_server.vendors.base import operation
from mock_server.vendors.close import Close
from tests.conftest import CLOSE_AUTH, NEXUDUS_AUTH, SPRINTHUB_AUTH


def test_all_vendors_are_mounted_under_their_prefix_and_real_base_path():
    client = create_app().test_client()
    assert client.get("/close/api/v1/status/opportunity/", headers=CLOSE_AUTH).status_code == 200
    assert client.get("/nexudus/api/crm/crmboardcolumns", headers=NEXUDUS_AUTH).status_code == 200
    created = client.post("/sprinthub/crmopportunity?id=12&i=acme", json={"title": "x", "lead_id": 8473},
                          headers=SPRINTHUB_AUTH)
    assert created.status_code == 200, created.get_json()
    # A vendor's path without its prefix is not served: the answer says where the vendors are.
    stray = client.get("/api/v1/status/opportunity/", headers=CLOSE_AUTH)
    assert stray.status_code == 404 and stray.get_json()["vendors"]["close"] == "/close/api/v1/"
    health = client.get("/__mock/health").get_json()
    assert health["status"] == "ok" and set(health["vendors"]) == {"close", "nexudus", "sprinthub"}


def test_each_vendor_answers_unknown_paths_in_its_own_shape():
    client = create_app().test_client()
    assert "error" in client.get("/close/api/v1/nope", headers=CLOSE_AUTH).get_json()
    assert "Message" in client.get("/nexudus/api/nope", headers=NEXUDUS_AUTH).get_json()
    assert "msg" in client.get("/sprinthub/nope", headers=SPRINTHUB_AUTH).get_json()


def test_a_crashing_handler_answers_a_vendor_shaped_500_without_a_stack_trace(monkeypatch):
    def boom(self, call):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(Close, "list_statuses", operation("listOpportunityStatuses")(boom))
    response = create_app("close").test_client().get("/api/v1/status/opportunity/", headers=CLOSE_AUTH)
    assert response.status_code == 500
    body = response.get_json()
    assert set(body) == {"error"} and "secret internals" not in body["error"]
    assert "Traceback" not in response.get_data(as_text=True)


def test_strict_mode_names_the_field_that_broke_the_schema(monkeypatch):
    def broken(self, call):
        return Reply(200, {"data": [{"id": "stat_x", "label": 5}], "has_more": False})

    monkeypatch.setattr(Close, "list_statuses", operation("listOpportunityStatuses")(broken))
    lenient = create_app("close").test_client().get("/api/v1/status/opportunity/", headers=CLOSE_AUTH)
    assert lenient.status_code == 200  # off by default: the broken body goes out as is
    strict = create_app("close", strict=True).test_client().get("/api/v1/status/opportunity/", headers=CLOSE_AUTH)
    assert strict.status_code == 500
    problems = {p["field"]: p["message"] for p in strict.get_json()["problems"]}
    assert problems["data.0.label"] == "Must be a string."
    assert "data.0.type" in problems  # a required key that is missing


def test_strict_mode_passes_conforming_answers():
    client = create_app("close", strict=True, seed_data=20).test_client()
    assert client.get("/api/v1/opportunity/?_limit=5", headers=CLOSE_AUTH).status_code == 200
    assert client.post("/api/v1/opportunity/", json={"value": "x"}, headers=CLOSE_AUTH).status_code == 400


@pytest.mark.parametrize("method, path", [("GET", "/__mock/nothing"), ("DELETE", "/__mock/health")])
def test_control_api_errors_are_json(method, path):
    response = create_app("close").test_client().open(path, method=method)
    assert response.status_code in (404, 405) and response.is_json


def test_records_endpoint_shows_what_is_stored():
    client = create_app("sprinthub").test_client()
    client.post("/crmopportunity?id=12&i=acme", json={"title": "Deal", "lead_id": 8473}, headers=SPRINTHUB_AUTH)
    stored = client.get("/__mock/records/sprinthub.opportunities").get_json()["records"]
    assert [r["title"] for r in stored] == ["Deal"]
    assert client.get("/__mock/records").get_json()["collections"]["sprinthub.opportunities"] == 1


def test_unknown_vendor_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown vendor 'hubspot'"):
        create_app("hubspot")


def test_reset_returns_to_the_seeded_world_or_to_a_chosen_size():
    client = create_app("close", seed_data=5).test_client()
    # The seeded world also holds the opportunity of seed 003's example: one more than --seed-data.
    count = lambda: client.get("/api/v1/opportunity/", headers=CLOSE_AUTH).get_json()["total_results"] - 1  # noqa: E731
    client.post("/api/v1/opportunity/", json={}, headers=CLOSE_AUTH)
    assert count() == 6
    assert client.post("/__mock/reset").status_code == 200 and count() == 5
    assert client.post("/__mock/reset?seed_data=0").status_code == 200 and count() == 0
    assert client.get("/api/v1/status/opportunity/", headers=CLOSE_AUTH).get_json()["data"]  # base world kept
    assert client.post("/__mock/reset?seed_data=-1").status_code == 400
    assert client.post("/__mock/requests").status_code == 405


def test_a_malformed_keys_file_is_a_clear_usage_error(tmp_path):
    from click.testing import CliRunner

    from mock_server.serve.cli import main

    keys = tmp_path / "keys.yaml"
    keys.write_text("close:\n  - user: {name: No Credentials}\n")
    result = CliRunner().invoke(main, ["serve", "--keys", str(keys)])
    assert result.exit_code == 2 and "needs a `credentials` mapping" in result.output


def test_head_answers_like_get_without_a_body():
    client = create_app("close").test_client()
    head = client.head("/api/v1/status/opportunity/", headers=CLOSE_AUTH)
    assert head.status_code == 200 and head.data == b""
    get = client.get("/api/v1/status/opportunity/", headers=CLOSE_AUTH)
    assert head.headers["Content-Length"] == get.headers["Content-Length"]
