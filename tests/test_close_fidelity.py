"""Close, round 2 of fidelity (issue 14): where the mock answered differently from Close's own documents.
Each test names its source; every one runs on memory, SQLite and PostgreSQL."""
from __future__ import annotations

import re

import pytest

from tests.conftest import CLOSE_AUTH
from tests.test_close import API, conforms, create, empty, statuses


@pytest.fixture
def close(make_client):
    client = make_client("close")
    empty(client)  # no opportunity but the test's own
    return client


def listing(client, path="/opportunity/", **query):
    response = client.get(f"{API}{path}", query_string=query, headers=CLOSE_AUTH)
    assert response.status_code == 200, response.get_json()
    operation = "listOpportunities" if path == "/opportunity/" else "listOpportunityStatusChanges"
    return conforms(response, operation)


def test_a_create_without_a_body_takes_every_default(close):
    """Seed 004: the request body of POST /opportunity/ is optional."""
    response = close.post(f"{API}/opportunity/", headers=CLOSE_AUTH)
    made = conforms(response, "createOpportunity")
    assert response.status_code == 200
    assert made["status_type"] == "active" and made["lead_name"] == "Untitled" and made["value"] is None


def test_custom_fields_are_stored_echoed_and_selectable(close):
    """Seed 004 (`custom.FIELD_ID`, the `custom_fields` dict) and Close's "Leads" page: custom fields
    with a value come back as `custom.FIELD_ID`; `_fields=custom` names them all."""
    made = create(close, value=1, **{"custom.cf_budget": "big", "custom_fields": {"cf_region": ["EU", "US"]}})
    assert made["custom.cf_budget"] == "big" and made["custom.cf_region"] == ["EU", "US"]
    got = conforms(close.get(f"{API}/opportunity/{made['id']}/", headers=CLOSE_AUTH), "getOpportunity")
    assert got["custom.cf_budget"] == "big"
    updated = close.put(f"{API}/opportunity/{made['id']}/", json={"custom.cf_budget": None, "custom.cf_new": 3},
                        headers=CLOSE_AUTH).get_json()
    assert "custom.cf_budget" not in updated and updated["custom.cf_new"] == 3  # no value: not returned
    assert updated["custom.cf_region"] == ["EU", "US"]  # untouched fields stay
    assert listing(close, _fields="id,custom")["data"] == [
        {"id": made["id"], "custom.cf_region": ["EU", "US"], "custom.cf_new": 3}]
    assert listing(close, _fields="custom.cf_new")["data"] == [{"custom.cf_new": 3}]


def test_every_list_carries_totals_over_all_matching_opportunities(close):
    """Close API reference, "List or filter opportunities": aggregates regardless of pagination."""
    create(close, value=500, confidence=50, value_period="monthly")
    create(close, value=1000, confidence=100, value_period="one_time")
    create(close, value=2000, confidence=10, value_period="annual")
    create(close, value=300, confidence=100, value_period="monthly", note="small")
    page = listing(close, _limit=1)
    assert len(page["data"]) == 1 and page["total_results"] == 4
    assert page["count_by_value_period"] == {"one_time": 1, "monthly": 2, "annual": 1}
    assert (page["total_value_one_time"], page["total_value_monthly"], page["total_value_annual"]) == (1000, 800, 2000)
    assert page["total_value_annualized"] == 1000 + 800 * 12 + 2000
    assert (page["expected_value_one_time"], page["expected_value_monthly"], page["expected_value_annual"]) == \
        (1000, 250 + 300, 200)
    assert page["expected_value_annualized"] == 1000 + (250 + 300) * 12 + 200
    monthly = listing(close, value_period="monthly", _limit=1)  # over the filtered set
    assert monthly["total_value_monthly"] == 800 and monthly["total_value_one_time"] == 0
    empty = listing(close, status_type="lost")
    assert empty["count_by_value_period"] == {} and empty["total_value_annualized"] == 0
    create(close, value=1, value_period="one_time")  # totals are cached per store state: a write shows at once
    assert listing(close, _limit=1)["total_value_one_time"] == 1001


def test_totals_follow_writes_made_by_another_worker(tmp_path):
    """Two apps on one SQLite file stand for two workers: one's create changes the other's totals."""
    from mock_server import create_app

    url = f"sqlite:{tmp_path / 'shared.db'}"
    one = create_app("close", store=url).test_client()
    two = create_app("close", store=url, reset_on_start=False).test_client()
    before = two.get(f"{API}/opportunity/", headers=CLOSE_AUTH).get_json()["total_value_one_time"]
    one.post(f"{API}/opportunity/", json={"value": 700}, headers=CLOSE_AUTH)
    assert two.get(f"{API}/opportunity/", headers=CLOSE_AUTH).get_json()["total_value_one_time"] == before + 700


def test_query_searches_opportunity_properties(close):
    """Close: `query=note:important` keeps opportunities whose note contains `important`."""
    wanted = create(close, note="An IMPORTANT deal")
    create(close, note="routine")
    assert [o["id"] for o in listing(close, query="note:important")["data"]] == [wanted["id"]]
    assert [o["id"] for o in listing(close, query="important")["data"]] == [wanted["id"]]  # a bare word
    assert listing(close, query="note:important note:routine")["data"] == []  # terms AND together
    refused = close.get(f"{API}/opportunity/", query_string={"query": "secret':x"}, headers=CLOSE_AUTH)
    assert refused.status_code == 400 and "query" in conforms(refused, "listOpportunities")["field-errors"]


def test_activity_lists_take_fields_order_and_activity_at(close):
    """Close "Activities": `_fields`, `_order_by`, `date_created__*` and `activity_at__*` on the lists."""
    won = statuses(close)["won"]
    made = create(close, value=5)
    close.put(f"{API}/opportunity/{made['id']}/", json={"status_id": won["id"]}, headers=CLOSE_AUTH)
    path = "/activity/status_change/opportunity/"
    newest_first = listing(close, path, opportunity_id=made["id"])["data"]
    oldest_first = listing(close, path, opportunity_id=made["id"], _order_by="date_created")["data"]
    assert [a["id"] for a in oldest_first] == [a["id"] for a in reversed(newest_first)]
    assert listing(close, path, _fields="id,new_status_type", opportunity_id=made["id"])["data"][0] == {
        "id": newest_first[0]["id"], "new_status_type": "won"}
    since = newest_first[0]["date_created"]
    assert listing(close, path, activity_at__gte=since, opportunity_id=made["id"])["data"] == \
        listing(close, path, date_created__gte=since, opportunity_id=made["id"])["data"]
    assert listing(close, path, activity_at__gt="2999-01-01")["data"] == []


def test_dates_are_milliseconds_padded_to_six_digits(close):
    """Seed 003: `2013-08-23T21:21:11.862000+00:00`."""
    made = create(close, value=1)
    for field in ("date_created", "date_updated"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}000\+00:00", made[field]), made[field]


@pytest.mark.parametrize("period", ["one_time", "monthly", "annual"])
def test_a_zero_or_missing_value_is_formatted_as_null(close, period):
    """Seed 003: `opportunity_value: 0` comes with `opportunity_value_formatted: null`."""
    assert create(close, value=0, value_period=period)["value_formatted"] is None
    assert create(close, value_period=period)["value_formatted"] is None
    assert create(close, value=100, value_period=period)["value_formatted"].startswith("$1")
