"""SprintHub through its HTTP surface: the seed's shapes, the lead and company it embeds, the dates it
stamps on status and column changes, and refusals in its two error shapes."""
from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from mock_server import load_spec, state_of
from tests.conftest import SPRINTHUB_AUTH, assert_conforms, bearer

SPEC = load_spec("sprinthub")
QUERY = "id=12&i=acme"  # funnel 12 (the seeded funnel, as the spec's example names it) of instance "acme"
# The seed's create body and answer (the spec carries the answer as its create 200 example).
SEED_BODY = {
    "title": "Test Title", "value": 1, "crm_column": 159, "lead_id": 8473, "sequence": 3, "status": "open",
    "expectedCloseDate": "2024-03-21T21:27:00.000Z", "user": 156, "fields": {"Field with Space": "9969887dddXXXXX"},
}
SEED_ANSWER = SPEC.by_id["createOpportunity"].raw["responses"]["200"]["content"]["application/json"]["example"]
JS_DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
TIMESTAMPS = ("createDate", "updateDate")
KEYS = {"sprinthub": [
    {"credentials": {"BearerAuth": "t", "ApiToken": "a"}, "user": {"id": 156, "name": "Ana"}},
    {"credentials": {"BearerAuth": "t2", "ApiToken": "a2"}, "user": {"id": 157, "name": "Bruno"}},
]}


def conforms(response, operation_id: str | None) -> dict:
    """Requests no operation matched (unknown path, wrong method) still answer SprintHub's `{"msg"}`."""
    if operation_id is not None:
        return assert_conforms("sprinthub", response, operation_id)
    body = response.get_json()
    assert set(body) == {"msg"} and body["msg"], body
    return body


@pytest.fixture
def sprinthub(make_client):
    return make_client("sprinthub")


def create(client, body=None, query=QUERY, headers=SPRINTHUB_AUTH):
    return client.post(f"/crmopportunity?{query}", json=SEED_BODY if body is None else body, headers=headers)


def update(client, opp_id, body, query=QUERY, headers=SPRINTHUB_AUTH):
    return client.put(f"/crmopportunity/{opp_id}?{query}", json=body, headers=headers)


def created(client, **changes) -> dict:
    response = create(client, {**SEED_BODY, **changes})
    assert response.status_code == 200, response.get_json()
    return conforms(response, "createOpportunity")


def updated(client, opp_id, **changes) -> dict:
    response = update(client, opp_id, changes)
    assert response.status_code == 200, response.get_json()
    body = conforms(response, "updateOpportunity")
    assert body["msg"] == "The opportunity has been updated."
    return body["data"]


def records(client, kind: str) -> list[dict]:
    return client.get(f"/__mock/records/sprinthub.{kind}").get_json()["records"]


def by_id(client, kind: str) -> dict[int, dict]:
    return {r["id"]: r for r in records(client, kind)}


def without(record: dict, *keys) -> dict:
    return {k: v for k, v in record.items() if k not in keys}


# -- create ------------------------------------------------------------------------------------------
def test_create_with_the_seed_body_answers_every_key_of_the_seed(sprinthub):
    opp = created(sprinthub)
    assert set(opp) == set(SEED_ANSWER)
    assert set(opp["dataLead"]) == set(SEED_ANSWER["dataLead"])
    assert set(opp["dataCompany"]) == set(SEED_ANSWER["dataCompany"])
    assert set(opp["dataCompanyExtra"][0]) == set(SEED_ANSWER["dataCompanyExtra"][0])
    assert opp["id"] == 4534
    assert {k: opp[k] for k in SEED_BODY} == SEED_BODY
    for name in ("loss_reason", "gain_reason", "last_column_change", "last_status_change",
                 "gain_date", "lost_date", "reopen_date"):
        assert opp[name] is None, name
    assert JS_DATE.match(opp["createDate"]) and opp["createDate"] == opp["updateDate"]
    assert (opp["sprint_permission"], opp["files"], opp["filesData"]) == ("all", [], [])


def test_create_embeds_the_seeded_lead_and_its_company(sprinthub):
    opp = created(sprinthub)
    lead = by_id(sprinthub, "leads")[8473]
    company = by_id(sprinthub, "companies")[lead["company"]]
    assert opp["dataLead"] == lead
    assert re.fullmatch(r"[0-9a-f]{24}", lead["_id"])
    assert (lead["country"], lead["timezone"], lead["preferred_locale"]) == ("Brazil", "America/Sao_Paulo", "pt-BR")
    assert opp["dataCompany"] == company
    assert opp["dataCompanyExtra"] == [without(company, "_id")]


def test_a_lead_without_company_embeds_none(sprinthub):
    lone = next(lead for lead in records(sprinthub, "leads") if lead["company"] is None)
    opp = created(sprinthub, lead_id=lone["id"])
    assert opp["dataLead"]["id"] == lone["id"]
    assert (opp["dataCompany"], opp["dataCompanyExtra"]) == (None, [])


def test_a_minimal_create_starts_open_in_the_funnels_first_column(sprinthub):
    response = create(sprinthub, {"title": "Só o essencial", "lead_id": 8474})
    assert response.status_code == 200, response.get_json()
    opp = conforms(response, "createOpportunity")
    first_column = records(sprinthub, "funnels")[0]["columns"][0]["id"]
    assert (opp["crm_column"], opp["status"], opp["value"], opp["sequence"]) == (first_column, "open", 0, None)
    assert opp["user"] == 156  # zero config: the caller is the first seeded user
    assert (opp["fields"], opp["expectedCloseDate"]) == ({}, None)


def test_expected_close_date_is_answered_in_utc_milliseconds(sprinthub):
    opp = created(sprinthub, expectedCloseDate="2024-03-21T18:27:00-03:00")
    assert opp["expectedCloseDate"] == "2024-03-21T21:27:00.000Z"


@pytest.mark.parametrize("status, date", [("gain", "gain_date"), ("lost", "lost_date")])
def test_creating_closed_stamps_the_status_dates(sprinthub, status, date):
    opp = created(sprinthub, status=status)
    assert opp[date] == opp["last_status_change"] == opp["createDate"]
    assert opp["reopen_date"] is None and opp["last_column_change"] is None


def test_create_stores_the_opportunity_with_its_funnel_and_instance(sprinthub):
    opp = created(sprinthub)
    [record] = records(sprinthub, "opportunities")
    assert (record["funnel_id"], record["instance"]) == (12, "acme")
    assert without(record, "funnel_id", "instance") == opp


# -- update ------------------------------------------------------------------------------------------
def test_status_changes_stamp_gain_reopen_and_lost_dates(sprinthub):
    opp = created(sprinthub)
    won = updated(sprinthub, opp["id"], status="gain")
    assert won["gain_date"] == won["last_status_change"] == won["updateDate"]
    assert won["reopen_date"] is None and won["createDate"] == opp["createDate"]
    assert won["updateDate"] > opp["updateDate"]
    reopened = updated(sprinthub, opp["id"], status="open")
    assert reopened["reopen_date"] == reopened["last_status_change"] == reopened["updateDate"]
    assert reopened["gain_date"] == won["gain_date"]  # history is kept
    lost = updated(sprinthub, opp["id"], status="lost")
    assert lost["lost_date"] == lost["last_status_change"] > reopened["reopen_date"]


def test_changes_within_one_millisecond_still_print_in_order(sprinthub):
    """The mock answers within a millisecond, and SprintHub prints milliseconds: with the clock held
    still, a record's every change still shows a later updateDate and status date than the one before."""
    state_of(sprinthub.application).store.pin_clock(datetime(2025, 1, 1, tzinfo=UTC))
    opp = created(sprinthub)
    won = updated(sprinthub, opp["id"], status="gain")
    lost = updated(sprinthub, opp["id"], status="lost")
    assert opp["updateDate"] < won["updateDate"] == won["gain_date"] < lost["updateDate"] == lost["lost_date"]


def test_an_update_that_keeps_status_and_column_stamps_no_change(sprinthub):
    opp = created(sprinthub)
    same = updated(sprinthub, opp["id"], status="open", crm_column=opp["crm_column"], title="Renomeada")
    assert same["title"] == "Renomeada"
    assert same["last_status_change"] is None and same["last_column_change"] is None
    assert same["updateDate"] > opp["updateDate"]


def test_partial_update_moves_column_merges_fields_and_re_resolves_the_lead(sprinthub):
    opp = created(sprinthub, fields={"Origem": "Site", "Segmento": "Varejo"})
    lone = next(lead for lead in records(sprinthub, "leads") if lead["company"] is None)
    data = updated(sprinthub, opp["id"], crm_column=160, lead_id=lone["id"],
                   fields={"Origem": "Indicação", "Novo": 1})
    assert data["last_column_change"] == data["updateDate"] and data["crm_column"] == 160
    assert data["fields"] == {"Origem": "Indicação", "Segmento": "Varejo", "Novo": 1}
    assert data["dataLead"] == lone and (data["dataCompany"], data["dataCompanyExtra"]) == (None, [])
    untouched = ("title", "value", "sequence", "status", "user", "expectedCloseDate", "createDate")
    assert {k: data[k] for k in untouched} == {k: opp[k] for k in untouched}
    [record] = records(sprinthub, "opportunities")
    assert without(record, "funnel_id", "instance") == data


# -- refusals ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("changes, named", [
    ({"lead_id": 99999}, ["lead_id", "99999"]),
    ({"crm_column": 999}, ["crm_column", "999"]),
    ({"user": 999}, ["user", "999"]),
    ({"value": "abc"}, ["value: Must be a number."]),
    ({"status": "won"}, ["status", "open, gain, lost"]),
])
def test_create_refusals_name_the_field(sprinthub, changes, named):
    response = create(sprinthub, {**SEED_BODY, **changes})
    assert response.status_code == 400
    msg = conforms(response, "createOpportunity")["msg"]
    for text in named:
        assert text in msg


def test_create_names_every_wrong_field(sprinthub):
    response = create(sprinthub, {"value": "ten", "lead_id": "x"})  # seed 001 requires no field: wrong types
    msg = conforms(response, "createOpportunity")["msg"]
    assert response.status_code == 400 and "value" in msg and "lead_id" in msg


def test_an_unknown_funnel_is_refused(sprinthub):
    response = create(sprinthub, query="id=7&i=acme")
    assert response.status_code == 400
    assert "Funnel 7" in conforms(response, "createOpportunity")["msg"]


@pytest.mark.parametrize("query, name", [("i=acme", "id"), ("id=1", "i"), ("id=abc&i=acme", "id"), ("", "id")])
def test_create_without_funnel_or_instance_is_a_400_naming_it(sprinthub, query, name):
    response = create(sprinthub, query=query)
    assert response.status_code == 400
    assert conforms(response, "createOpportunity")["msg"].startswith(f"{name} (")


@pytest.mark.parametrize("opp_id, body, query", [
    (999999, {"title": "x"}, QUERY),  # unknown opportunity
    ("{id}", {"title": "x"}, "id=2&i=acme"),  # not in that funnel
    ("{id}", {"title": "x"}, "i=acme"),  # no funnel
    ("{id}", {"title": "x"}, "id=1"),  # no instance
    ("{id}", {"status": "won"}, QUERY),
    ("{id}", {"value": "abc"}, QUERY),
    ("{id}", {"lead_id": 99999}, QUERY),
    ("{id}", {"crm_column": 999}, QUERY),
    ("{id}", [], QUERY),
    ("abc", {"title": "x"}, QUERY),
])
def test_update_refusals_answer_the_seeds_invalid_request(sprinthub, opp_id, body, query):
    opp = created(sprinthub)
    response = update(sprinthub, str(opp_id).format(id=opp["id"]), body, query=query)
    assert response.status_code == 400
    assert conforms(response, "updateOpportunity") == {"error": "Invalid request"}


NO_CREDENTIALS = [
    {},
    bearer("sprinthub-test-token"),  # no apitoken
    {"apitoken": "sprinthub-api-token"},  # no Bearer
    {"Authorization": "Basic dTpw", "apitoken": "sprinthub-api-token"},  # Basic is not Bearer
]


@pytest.mark.parametrize("headers", NO_CREDENTIALS)
def test_both_bearer_and_apitoken_are_needed(sprinthub, headers):
    for response, op in ((create(sprinthub, headers=headers), "createOpportunity"),
                         (update(sprinthub, 4534, {"title": "x"}, headers=headers), "updateOpportunity")):
        assert response.status_code == 401
        assert "apitoken" in conforms(response, op)["msg"]


def post_raw(client, path, data, content_type):
    return client.post(path, data=data, content_type=content_type, headers=SPRINTHUB_AUTH)


def put_raw(client, path, data, content_type):
    return client.put(path, data=data, content_type=content_type, headers=SPRINTHUB_AUTH)


TRANSPORT_FAULTS = [
    (b'{"title": ', "application/json", 400),
    (json.dumps(SEED_BODY).encode(), "text/plain", 415),
    (b'{"title": "' + b"x" * (1024 * 1024) + b'"}', "application/json", 413),
]


@pytest.mark.parametrize("data, content_type, status", TRANSPORT_FAULTS)
def test_transport_faults_answer_in_each_operations_shape(sprinthub, data, content_type, status):
    opp = created(sprinthub)
    response = post_raw(sprinthub, f"/crmopportunity?{QUERY}", data, content_type)
    assert response.status_code == status
    assert conforms(response, "createOpportunity")["msg"]
    response = put_raw(sprinthub, f"/crmopportunity/{opp['id']}?{QUERY}", data, content_type)
    assert response.status_code == status
    body = conforms(response, "updateOpportunity")
    assert set(body) == {"error"} and (status != 400 or body == {"error": "Invalid request"})


def test_unknown_paths_and_wrong_methods_answer_msg(sprinthub):
    response = sprinthub.get(f"/crmopportunities?{QUERY}", headers=SPRINTHUB_AUTH)
    assert response.status_code == 404 and conforms(response, None)
    response = sprinthub.get(f"/crmopportunity?{QUERY}", headers=SPRINTHUB_AUTH)
    assert response.status_code == 405 and response.headers["Allow"] == "POST"
    assert "POST" in conforms(response, None)["msg"]
    response = sprinthub.delete(f"/crmopportunity/4534?{QUERY}", headers=SPRINTHUB_AUTH)
    assert response.status_code == 405 and response.headers["Allow"] == "PUT"
    conforms(response, None)


def test_rejected_requests_change_nothing(make_client):
    client = make_client("sprinthub", seed_data=3)
    before = records(client, "opportunities")
    target = f"/crmopportunity/{before[0]['id']}?{QUERY}"
    refused = [
        create(client, {**SEED_BODY, "lead_id": 99999}),
        create(client, {**SEED_BODY, "crm_column": 999}),
        create(client, query="id=1"),
        create(client, headers=bearer("t")),
        update(client, before[0]["id"], {"status": "won", "title": "changed"}),
        update(client, before[0]["id"], {"lead_id": 99999, "title": "changed"}),
        update(client, before[0]["id"], {"title": "changed"}, query="id=2&i=acme"),
        update(client, before[0]["id"], {"title": "changed"}, headers=bearer("t")),
        *(post_raw(client, f"/crmopportunity?{QUERY}", d, c) for d, c, _ in TRANSPORT_FAULTS),
        *(put_raw(client, target, d, c) for d, c, _ in TRANSPORT_FAULTS),
    ]
    assert all(r.status_code >= 400 for r in refused)
    assert records(client, "opportunities") == before
    assert created(client)["id"] == 4537  # refusals used up no ID


# -- keys file ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("token, apitoken, status", [
    ("t", "a", 200), ("t", "wrong", 401), ("wrong", "a", 401), ("t", "a2", 401), ("t2", "a", 401),
])
def test_a_keys_file_accepts_only_its_pairs(make_client, token, apitoken, status):
    client = make_client("sprinthub", keys=KEYS)
    headers = {**bearer(token), "apitoken": apitoken}
    response = create(client, headers=headers)
    assert response.status_code == status
    conforms(response, "createOpportunity")
    assert len(records(client, "opportunities")) == (status == 200)


def test_a_keys_file_user_owns_what_they_create(make_client):
    client = make_client("sprinthub", keys=KEYS)
    response = create(client, {"title": "De Bruno", "lead_id": 8473}, headers={**bearer("t2"), "apitoken": "a2"})
    assert conforms(response, "createOpportunity")["user"] == 157


# -- seeded world ------------------------------------------------------------------------------------
def world(client) -> dict:
    return {kind: records(client, kind) for kind in ("users", "funnels", "companies", "leads", "opportunities")}


def test_the_same_seed_gives_the_same_world_and_answers(make_client):
    # One client at a time: with SQLite the clients share one file, and each start resets it.
    first = make_client("sprinthub", seed=7, seed_data=4)
    seeded, answer = world(first), created(first)
    second = make_client("sprinthub", seed=7, seed_data=4)
    assert world(second) == seeded
    assert without(created(second), *TIMESTAMPS) == without(answer, *TIMESTAMPS)
    other = make_client("sprinthub", seed=8, seed_data=4)
    assert world(other)["leads"] != seeded["leads"]
    assert created(other)["dataLead"] != answer["dataLead"]


def test_seeded_opportunities_are_consistent_and_updatable(make_client):
    client = make_client("sprinthub", seed_data=12)
    validator = SPEC.validator(SPEC.component_schema("Opportunity"))
    leads, columns = by_id(client, "leads"), {c["id"] for c in records(client, "funnels")[0]["columns"]}
    seeded = records(client, "opportunities")
    assert [o["id"] for o in seeded] == list(range(4534, 4546))
    assert {o["status"] for o in seeded} - {"open"}, "no closed opportunity: the date checks would be vacuous"
    for opp in seeded:
        assert not list(validator.iter_errors(opp)), opp["id"]
        assert opp["dataLead"] == leads[opp["lead_id"]] and opp["crm_column"] in columns
        assert opp["createDate"] < "2025"  # Faker-dated, not by the wall clock
        assert (opp["gain_date"] is not None) == (opp["status"] == "gain")
        assert (opp["lost_date"] is not None) == (opp["status"] == "lost")
        assert (opp["last_status_change"] is not None) == (opp["status"] != "open")
    assert updated(client, 4534, value=42)["value"] == 42
    assert created(client)["id"] == 4546


def test_a_mock_failure_is_a_500_in_the_vendor_shape_without_a_trace(make_client, monkeypatch):
    client = make_client("sprinthub")
    vendor = state_of(client.application).vendors["sprinthub"]
    monkeypatch.setattr(vendor, "save_opportunity", lambda *a, **k: 1 / 0)
    response = create(client)
    assert response.status_code == 500 and set(response.get_json()) == {"msg"}
    response = update(client, 4534, {"title": "x"})
    assert response.status_code == 500 and set(response.get_json()) == {"error"}
    assert "Traceback" not in response.get_data(as_text=True)


def test_the_journal_says_why_behind_invalid_request(sprinthub):
    update(sprinthub, 999999, {"title": "x"})
    [entry] = sprinthub.get("/__mock/requests?limit=1").get_json()["requests"]
    assert entry["message"] == "Invalid request"
    why = "Opportunity 999999 does not exist in funnel 12 of instance 'acme'."
    assert entry["problems"] == [{"field": "opportunityId", "message": why}]
