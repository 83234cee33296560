"""Close through its HTTP surface: state, derived fields, history, errors in Close's shape."""
from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from mock_server import state_of
from tests.conftest import CLOSE_AUTH, assert_conforms, basic, bearer

API = "/api/v1"


def conforms(response, operation_id: str) -> dict:
    return assert_conforms("close", response, operation_id)


DOCUMENTED_OPPORTUNITY = "oppo_fn2kSFXS06akJ7XisR7vQQeObyK4upCc43RiAx1Vyz6"  # seed 003's example
DOCUMENTED_ACTIVITY = "acti_CAI2lO44gRLMIvgsKfPZghRyuv1h8S3l7c4cDznXukd"


@pytest.fixture
def close(make_client):
    """A Close mock whose seeded world has no opportunity yet: the one seed 003's example names
    (test_seeded_world_holds_the_objects_the_docs_name checks it) is deleted first, through the API."""
    client = make_client("close")
    empty(client)
    return client


def empty(client) -> None:
    assert client.delete(f"{API}/opportunity/{DOCUMENTED_OPPORTUNITY}/", headers=CLOSE_AUTH).status_code == 200
    assert client.delete(f"{API}/activity/status_change/opportunity/{DOCUMENTED_ACTIVITY}/",
                         headers=CLOSE_AUTH).status_code == 200


def statuses(client) -> dict[str, dict]:
    data = conforms(client.get(f"{API}/status/opportunity/", headers=CLOSE_AUTH), "listOpportunityStatuses")["data"]
    return {s["type"]: s for s in data}


def create(client, **body):
    response = client.post(f"{API}/opportunity/", json=body, headers=CLOSE_AUTH)
    assert response.status_code == 200, response.get_json()
    return conforms(response, "createOpportunity")


def records(client, path="/opportunity/"):
    return client.get(f"{API}{path}", headers=CLOSE_AUTH).get_json()["data"]


def test_out_of_the_box_statuses_in_one_pipeline(close):
    by_type = statuses(close)
    assert {s["label"] for s in by_type.values()} == {"Active", "Won", "Lost"}
    assert len({s["pipeline_id"] for s in by_type.values()}) == 1


def test_changes_within_one_millisecond_still_print_in_order(close):
    """Close prints milliseconds and the mock answers within one: with the clock held still, each
    update of an opportunity still shows a later date_updated than the one before."""
    state_of(close.application).store.pin_clock(datetime(2025, 1, 1, tzinfo=UTC))
    stamps = [create(close, note="a")]
    for note in ("b", "c"):
        stamps.append(conforms(close.put(f"{API}/opportunity/{stamps[0]['id']}/", json={"note": note},
                                         headers=CLOSE_AUTH), "updateOpportunity"))
    assert stamps[0]["date_updated"] < stamps[1]["date_updated"] < stamps[2]["date_updated"]


def test_create_then_read_list_update_delete(close):
    opp = create(close, note="i hope this deal closes...", confidence=75, value=500, value_period="monthly")
    assert opp["id"].startswith("oppo_") and len(opp["id"]) == 48
    got = conforms(close.get(f"{API}/opportunity/{opp['id']}/", headers=CLOSE_AUTH), "getOpportunity")
    assert got == opp
    assert [o["id"] for o in records(close)] == [opp["id"]]
    updated = conforms(close.put(f"{API}/opportunity/{opp['id']}/", json={"note": "signed"}, headers=CLOSE_AUTH),
                       "updateOpportunity")
    assert updated["note"] == "signed" and updated["value"] == 500
    assert updated["date_updated"] > opp["date_updated"]
    assert conforms(close.delete(f"{API}/opportunity/{opp['id']}/", headers=CLOSE_AUTH), "deleteOpportunity") == {}
    missing = close.get(f"{API}/opportunity/{opp['id']}/", headers=CLOSE_AUTH)
    assert missing.status_code == 404
    assert conforms(missing, "getOpportunity") == {
        "error": "Empty query: Opportunity matching query does not exist."}


def test_derived_value_fields(close):
    monthly = create(close, value=500, value_period="monthly", confidence=75)
    assert monthly["value_formatted"] == "$5 monthly"
    assert monthly["expected_value"] == 375
    assert monthly["annualized_value"] == 6000
    assert monthly["annualized_expected_value"] == 4500
    assert monthly["value_currency"] == "USD"
    assert create(close, value=20000)["value_formatted"] == "$200"
    one_time = create(close, value=100000, confidence=50, value_period="one_time")
    assert one_time["value_formatted"] == "$1,000" and one_time["annualized_value"] == 100000
    annual = create(close, value=123456, value_period="annual")
    assert annual["annualized_value"] == 123456 and annual["value_formatted"] == "$1,234.56 annually"


def test_defaults_and_names_from_the_caller(close):
    opp = create(close)
    by_type = statuses(close)
    assert opp["status_id"] == by_type["active"]["id"]  # the default (first) status
    assert opp["status_label"] == "Active" and opp["status_display_name"] == "Active"
    assert opp["pipeline_name"] == "Sales" and opp["pipeline_id"] == by_type["active"]["pipeline_id"]
    assert opp["value_period"] == "one_time" and opp["confidence"] == 0
    assert opp["user_id"].startswith("user_") and opp["user_name"]
    assert opp["created_by"] == opp["updated_by"] == opp["user_id"]
    assert opp["organization_id"].startswith("orga_")


def test_no_lead_creates_an_untitled_lead_and_unknown_lead_is_rejected(close):
    first, second = create(close), create(close)
    assert first["lead_name"] == "Untitled" and first["lead_id"].startswith("lead_")
    assert first["lead_id"] != second["lead_id"]
    same_lead = create(close, lead_id=first["lead_id"])
    assert same_lead["lead_id"] == first["lead_id"]
    response = close.post(f"{API}/opportunity/", json={"lead_id": "lead_nope"}, headers=CLOSE_AUTH)
    assert response.status_code == 400
    assert conforms(response, "createOpportunity") == {"errors": [], "field-errors": {"lead": "Object does not exist."}}


def test_status_change_records_history_and_dates(close):
    by_type = statuses(close)
    opp = create(close, value=500, value_period="monthly")
    won = conforms(close.put(f"{API}/opportunity/{opp['id']}/", json={"status_id": by_type["won"]["id"]},
                             headers=CLOSE_AUTH), "updateOpportunity")
    assert won["status_type"] == "won" and won["date_won"] == won["date_updated"][:10]
    back = close.put(f"{API}/opportunity/{opp['id']}/", json={"status_id": by_type["active"]["id"]}, headers=CLOSE_AUTH)
    assert back.get_json()["date_won"] == won["date_won"]  # kept when it moves back
    lost = close.put(f"{API}/opportunity/{opp['id']}/", json={"status_id": by_type["lost"]["id"]}, headers=CLOSE_AUTH)
    assert lost.get_json()["date_lost"]

    listing = conforms(close.get(f"{API}/activity/status_change/opportunity/",
                                 query_string={"opportunity_id": opp["id"]}, headers=CLOSE_AUTH),
                       "listOpportunityStatusChanges")
    moves = [(a["old_status_type"], a["new_status_type"]) for a in reversed(listing["data"])]
    assert moves == [(None, "active"), ("active", "won"), ("won", "active"), ("active", "lost")]
    newest = listing["data"][0]
    assert newest["_type"] == "OpportunityStatusChange" and newest["opportunity_value_formatted"] == "$5 monthly"
    assert newest["lead_id"] == opp["lead_id"] and newest["new_status_label"] == "Lost"
    assert newest["id"].startswith("acti_")
    got = close.get(f"{API}/activity/status_change/opportunity/{newest['id']}/", headers=CLOSE_AUTH)
    assert conforms(got, "getOpportunityStatusChange") == newest


def test_update_without_status_change_records_no_history(close):
    opp = create(close)
    close.put(f"{API}/opportunity/{opp['id']}/", json={"note": "x", "value": 100}, headers=CLOSE_AUTH)
    assert len(records(close, "/activity/status_change/opportunity/")) == 1  # only the creation


def test_posting_a_status_change_imports_history_only(close):
    by_type = statuses(close)
    opp = create(close)
    body = {"opportunity_id": opp["id"], "old_status_id": by_type["active"]["id"],
            "new_status_id": by_type["won"]["id"], "date_created": "2013-08-23T21:21:11.862000+00:00"}
    response = close.post(f"{API}/activity/status_change/opportunity/", json=body, headers=CLOSE_AUTH)
    activity = conforms(response, "createOpportunityStatusChange")
    assert activity["date_created"] == "2013-08-23T21:21:11.862000+00:00"
    assert activity["new_status_type"] == "won"
    unchanged = close.get(f"{API}/opportunity/{opp['id']}/", headers=CLOSE_AUTH).get_json()
    assert unchanged["status_type"] == "active" and unchanged == opp
    deleted = close.delete(f"{API}/activity/status_change/opportunity/{activity['id']}/", headers=CLOSE_AUTH)
    assert conforms(deleted, "deleteOpportunityStatusChange") == {}
    bad = close.post(f"{API}/activity/status_change/opportunity/",
                     json={**body, "opportunity_id": "oppo_missing"}, headers=CLOSE_AUTH)
    assert conforms(bad, "createOpportunityStatusChange")["field-errors"] == {"opportunity": "Object does not exist."}


def test_unknown_status_id_is_a_field_error(close):
    response = close.post(f"{API}/opportunity/", json={"status_id": "stat_nope"}, headers=CLOSE_AUTH)
    assert conforms(response, "createOpportunity")["field-errors"] == {"status": "Object does not exist."}


def test_list_pagination_order_fields_and_filters(close):
    client = close
    made = [create(client, value=v * 100, confidence=10) for v in (5, 1, 3, 4, 2)]
    page = conforms(client.get(f"{API}/opportunity/", query_string={"_skip": 1, "_limit": 2, "_order_by": "-value"},
                               headers=CLOSE_AUTH), "listOpportunities")
    assert [o["value"] for o in page["data"]] == [400, 300]
    assert page["has_more"] is True and page["total_results"] == 5
    last = client.get(f"{API}/opportunity/", query_string={"_skip": 4, "_limit": 2}, headers=CLOSE_AUTH).get_json()
    assert last["has_more"] is False and len(last["data"]) == 1
    fields = conforms(client.get(f"{API}/opportunity/", query_string={"_fields": "id,value"}, headers=CLOSE_AUTH),
                      "listOpportunities")
    assert all(set(o) == {"id", "value"} for o in fields["data"])
    won = statuses(client)["won"]
    client.put(f"{API}/opportunity/{made[0]['id']}/", json={"status_id": won["id"]}, headers=CLOSE_AUTH)
    for query in ({"status_type": "won"}, {"status_id__in": f"{won['id']},stat_other"}, {"status_label": "Won"}):
        found = client.get(f"{API}/opportunity/", query_string=query, headers=CLOSE_AUTH).get_json()
        assert [o["id"] for o in found["data"]] == [made[0]["id"]], query
    future = client.get(f"{API}/opportunity/", query_string={"date_created__gt": "2999-01-01"}, headers=CLOSE_AUTH)
    assert future.get_json()["total_results"] == 0
    past = client.get(f"{API}/opportunity/", query_string={"date_created__gte": "2000-01-01T00:00:00Z"}, headers=CLOSE_AUTH)
    assert past.get_json()["total_results"] == 5


@pytest.mark.parametrize("query, field", [
    ({"_limit": 101}, "_limit"), ({"_limit": "ten"}, "_limit"), ({"colour": "red"}, "colour"),
    ({"_order_by": "shoe_size"}, "_order_by"), ({"date_created__gt": "yesterday"}, "date_created__gt"),
])
def test_bad_list_queries_are_field_errors(close, query, field):
    response = close.get(f"{API}/opportunity/", query_string=query, headers=CLOSE_AUTH)
    assert response.status_code == 400
    assert field in conforms(response, "listOpportunities")["field-errors"]


@pytest.mark.parametrize("body, field, message", [
    ({"value": "abc"}, "value", "Must be an integer."),
    ({"confidence": 1.5}, "confidence", "Must be an integer."),
    ({"value_period": "weekly"}, "value_period", "Must be one of: one_time, monthly, annual."),
    ({"attachments": [{"filename": "a.pdf"}]}, "attachments.0.url", "This field is required."),
    ({"date_created": "last tuesday"}, "date_created", "Must be a valid ISO 8601 date-time."),
    ({"note": 5}, "note", "Must be a string."),
])
def test_invalid_bodies_name_the_field(close, body, field, message):
    response = close.post(f"{API}/opportunity/", json=body, headers=CLOSE_AUTH)
    assert response.status_code == 400
    assert conforms(response, "createOpportunity") == {"errors": [], "field-errors": {field: message}}


def test_transport_faults_answer_in_closes_shape_and_store_nothing(close):
    before = records(close)
    existing = create(close, value=100)
    faults = [
        close.post(f"{API}/opportunity/", data="{not json", content_type="application/json", headers=CLOSE_AUTH),
        close.post(f"{API}/opportunity/", data="value=1", content_type="text/plain", headers=CLOSE_AUTH),
        close.post(f"{API}/opportunity/", data=json.dumps({"note": "x" * (1024 * 1024)}),
                   content_type="application/json", headers=CLOSE_AUTH),
        close.put(f"{API}/opportunity/{existing['id']}/", data="[1,", content_type="application/json", headers=CLOSE_AUTH),
        close.put(f"{API}/opportunity/{existing['id']}/", json={"value": "lots"}, headers=CLOSE_AUTH),
    ]
    assert [f.status_code for f in faults] == [400, 415, 413, 400, 400]
    for fault in faults:
        body = fault.get_json()
        assert fault.mimetype == "application/json"
        assert ("field-errors" in body) or ("error" in body), body
    assert "not valid JSON" in faults[0].get_json()["errors"][0]
    assert "application/json" in faults[1].get_json()["error"]
    after = records(close)
    assert [o["id"] for o in after] == [o["id"] for o in before] + [existing["id"]]
    assert close.get(f"{API}/opportunity/{existing['id']}/", headers=CLOSE_AUTH).get_json() == existing


def test_unknown_route_and_wrong_method(close):
    missing = close.get(f"{API}/opportunities/", headers=CLOSE_AUTH)
    assert missing.status_code == 404 and "was not found on the server" in missing.get_json()["error"]
    wrong = close.patch(f"{API}/opportunity/", json={}, headers=CLOSE_AUTH)
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "GET, POST"
    assert "error" in wrong.get_json()


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Basic"}, {"Authorization": "Basic !!!notbase64"}, {"Authorization": "Token abc"},
    {"Authorization": "Bearer "},
])
def test_missing_or_malformed_credentials_get_closes_401(close, headers):
    response = close.get(f"{API}/opportunity/", headers=headers)
    assert response.status_code == 401
    assert conforms(response, "listOpportunities")["error"].startswith(
        "The server could not verify that you are authorized")


def test_bearer_is_accepted_too(close):
    assert close.get(f"{API}/opportunity/", headers=bearer("oauth-token")).status_code == 200


def test_keys_file_accepts_only_listed_keys_and_names_their_user(make_client):
    keys = {"close": [{"credentials": {"ApiKeyAuth": "api_alice:"},
                       "user": {"name": "Alice Admin", "id": "user_" + "A" * 43}}]}
    client = make_client("close", keys=keys)
    assert client.get(f"{API}/opportunity/", headers=basic("api_bob")).status_code == 401
    response = client.post(f"{API}/opportunity/", json={}, headers=basic("api_alice"))
    assert response.status_code == 200
    assert response.get_json()["user_name"] == "Alice Admin"
    assert response.get_json()["updated_by"] == "user_" + "A" * 43


def test_journal_redacts_credentials(close):
    close.post(f"{API}/opportunity/", json={"value": "x"}, headers=CLOSE_AUTH)
    entry = close.get("/__mock/requests").get_json()["requests"][-1]
    assert entry["status"] == 400 and entry["operation"] == "createOpportunity"
    assert entry["headers"]["Authorization"] == "Basic ***"
    assert entry["problems"] == [{"field": "value", "message": "Must be an integer."}]
    assert CLOSE_AUTH["Authorization"].split()[1] not in json.dumps(entry)


def test_seeded_world_is_deterministic_and_resettable(make_client):
    one = make_client("close", seed=7, seed_data=10)
    two = make_client("close", seed=7, seed_data=10)
    first = one.get(f"{API}/opportunity/", headers=CLOSE_AUTH).get_json()
    assert first["total_results"] == 11  # and seed 003's example opportunity, first
    assert first["data"][0]["id"] == DOCUMENTED_OPPORTUNITY
    assert first == two.get(f"{API}/opportunity/", headers=CLOSE_AUTH).get_json()
    create(one)
    assert one.post("/__mock/reset").status_code == 200
    assert one.get(f"{API}/opportunity/", headers=CLOSE_AUTH).get_json() == first
    other_seed = make_client("close", seed=8, seed_data=10).get(f"{API}/opportunity/", headers=CLOSE_AUTH).get_json()
    assert other_seed["data"][1]["id"] != first["data"][1]["id"]


def test_seeded_world_holds_the_objects_the_docs_name(make_client):
    """Issue 14: a request copied from Close's docs (seed 003) finds its opportunity, activity, lead,
    user, statuses and organization."""
    client = make_client("close")
    opp = conforms(client.get(f"{API}/opportunity/{DOCUMENTED_OPPORTUNITY}/", headers=CLOSE_AUTH), "getOpportunity")
    activity = conforms(client.get(f"{API}/activity/status_change/opportunity/{DOCUMENTED_ACTIVITY}/",
                                   headers=CLOSE_AUTH), "getOpportunityStatusChange")
    from mock_server import load_spec

    example = load_spec("close").document["components"]["schemas"]["OpportunityStatusChange"]["example"]
    assert activity == example  # exactly seed 003's object
    assert (opp["lead_id"], opp["user_id"], opp["status_id"], opp["organization_id"]) == (
        example["lead_id"], example["user_id"], example["new_status_id"], example["organization_id"])
    assert (opp["date_won"], opp["value"], opp["value_formatted"]) == ("2013-08-23", 0, None)
    assert opp["date_created"] == example["date_created"]


def test_a_keys_file_user_without_an_id_can_create_and_update(make_client):
    keys = {"close": [{"credentials": {"ApiKeyAuth": "api_alice:"}, "user": {"name": "Alice Admin"}}]}
    client = make_client("close", keys=keys)
    made = conforms(client.post(f"{API}/opportunity/", json={"note": "x"}, headers=basic("api_alice")),
                    "createOpportunity")
    updated = client.put(f"{API}/opportunity/{made['id']}/", json={"note": "y"}, headers=basic("api_alice"))
    assert conforms(updated, "updateOpportunity")["user_name"] == "Alice Admin"
    # the keyed user is a user of the organization: naming it explicitly resolves
    again = client.post(f"{API}/opportunity/", json={"user_id": made["user_id"]}, headers=basic("api_alice"))
    assert again.status_code == 200


@pytest.mark.parametrize("sent, stored", [
    ("0456-07-10T08:29:59-09:23", "0456-07-10T17:52:59.000000+00:00"),  # years before 1000 keep 4 digits
    ("2024-02-29T23:30:00-01:00", "2024-03-01T00:30:00.000000+00:00"),
])
def test_dates_are_stored_in_closes_utc_format(close, sent, stored):
    assert create(close, date_created=sent)["date_created"] == stored


def test_a_date_that_leaves_the_calendar_is_a_field_error_not_a_crash(close):
    response = close.post(f"{API}/opportunity/", json={"date_created": "0001-01-01T00:00:00+05:00"}, headers=CLOSE_AUTH)
    assert response.status_code == 400
    assert conforms(response, "createOpportunity")["field-errors"] == {"date_created": "Must be a valid ISO 8601 date-time."}


def test_a_refused_create_writes_nothing_not_even_its_untitled_lead(make_client):
    client = make_client("close")
    before = client.get("/__mock/records").get_json()["collections"]
    response = client.post(f"{API}/opportunity/", json={"date_won": "0001-01-01T00:00:00+05:00"}, headers=CLOSE_AUTH)
    assert response.status_code == 400
    assert client.get("/__mock/records").get_json()["collections"] == before


def test_a_missing_or_doubled_slash_is_forgiven(close):
    opp = create(close)
    assert close.get(f"{API}/opportunity/{opp['id']}", headers=CLOSE_AUTH).get_json() == opp
    assert close.get(f"{API}/opportunity//{opp['id']}//", headers=CLOSE_AUTH).get_json() == opp
    assert close.get(f"{API}/opportunity", headers=CLOSE_AUTH).get_json()["total_results"] == 1
