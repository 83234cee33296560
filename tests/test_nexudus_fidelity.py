"""Nexudus, round 2 of fidelity (issue 14): CrmOpportunity served, `dir` as the integer the reference
documents, and dates Nexudus would refuse refused. Every test runs on memory, SQLite and PostgreSQL."""
from __future__ import annotations

import pytest

from tests.conftest import NEXUDUS_AUTH
from tests.test_nexudus import HISTORIES, answered, columns, create, listing, rejected

OPPORTUNITIES = "/api/crm/crmopportunities"


@pytest.fixture
def nexudus(make_client):
    return make_client("nexudus", seed_data=8, strict=True)


def opportunities(client, query: str = "") -> dict:
    return answered(client.get(f"{OPPORTUNITIES}{query}", headers=NEXUDUS_AUTH), "listCrmOpportunities")


def opportunity(client, key: int) -> dict:
    return answered(client.get(f"{OPPORTUNITIES}/{key}", headers=NEXUDUS_AUTH), "getCrmOpportunity")


def test_every_history_refers_to_an_opportunity_that_answers(nexudus):
    """The seed's history points at CrmOpportunity 1204567; its list and get answer from the store."""
    histories = listing(nexudus, "?size=100")["Records"]
    listed = {o["Id"]: o for o in opportunities(nexudus, "?size=100")["Records"]}
    assert {h["CrmOpportunityId"] for h in histories} <= set(listed)
    assert opportunity(nexudus, 1204567) == listed[1204567]
    for key, record in listed.items():  # each in the stage of its latest move
        moves = sorted((h for h in histories if h["CrmOpportunityId"] == key), key=lambda h: (h["ToTime"], h["Id"]))
        if moves:
            assert record["CrmBoardColumnId"] == moves[-1]["NewCrmBoardColumnId"]
    missing = nexudus.get(f"{OPPORTUNITIES}/999", headers=NEXUDUS_AUTH)
    assert rejected(missing, "getCrmOpportunity", 404)


def test_a_stage_move_moves_the_opportunity_and_sets_its_status(nexudus):
    stages = columns(nexudus)
    key = opportunities(nexudus, "?size=1")["Records"][0]["Id"]
    create(nexudus, CrmOpportunityId=key, NewCrmBoardColumnId=stages["Won"]["Id"], ToTime="2030-01-01T10:00:00Z")
    won = opportunity(nexudus, key)
    assert (won["CrmBoardColumnId"], won["CrmBoardColumnName"], won["Status"]) == (stages["Won"]["Id"], "Won", 2)
    assert won["WonOn"] == "2030-01-01T10:00:00Z" and won["LostOn"] is None
    moved = create(nexudus, CrmOpportunityId=key, NewCrmBoardColumnId=stages["Lost"]["Id"],
                   OldCrmBoardColumnId=stages["Won"]["Id"], ToTime="2030-01-02T10:00:00Z")
    lost = opportunity(nexudus, key)
    assert (lost["Status"], lost["WonOn"], lost["LostOn"]) == (3, None, "2030-01-02T10:00:00Z")
    # deleting the latest move puts it back where the one before left it
    assert nexudus.delete(f"{HISTORIES}/{moved['Value']['Id']}", headers=NEXUDUS_AUTH).status_code == 200
    assert opportunity(nexudus, key)["Status"] == 2
    assert [o["Id"] for o in opportunities(nexudus, "?size=100&CrmOpportunity_Status=2")["Records"]].count(key) == 1


@pytest.mark.parametrize("direction, descending", [(0, False), (1, True), (-1, True)])
def test_dir_is_the_documented_integer(nexudus, direction, descending):
    """developers.nexudus.com / learn.nexudus.com: `dir` and `CurrentSortDirection` are integers."""
    page = listing(nexudus, f"?size=100&dir={direction}")
    ids = [r["Id"] for r in page["Records"]]
    assert ids == sorted(ids, reverse=descending) and page["CurrentSortDirection"] == int(descending)


@pytest.mark.parametrize("bad", ["Descending", "2", "desc"])
def test_another_dir_is_refused(nexudus, bad):
    rejected(nexudus.get(f"{HISTORIES}?dir={bad}", headers=NEXUDUS_AUTH), "listCrmOpportunityHistories", 400)


@pytest.mark.parametrize("when", ["2025-13-01T10:00:00Z", "2025-02-30T10:00:00Z", "2025-01-15T24:00:00Z",
                                  "2025-01-15T10:61:00Z", "2025-01-15 10:00:00Z", "2025-01-15T10:00:00+25:00"])
def test_a_date_nexudus_would_refuse_is_a_400_and_stores_nothing(nexudus, when):
    stages = columns(nexudus)
    before = listing(nexudus, "?size=1")["TotalItems"]
    answer = nexudus.post(HISTORIES, json={"CrmOpportunityId": 1204567, "NewCrmBoardColumnId": stages["New"]["Id"],
                                           "ToTime": when}, headers=NEXUDUS_AUTH)
    assert answer.status_code == 400 and "ToTime" in answer.get_data(as_text=True)
    assert listing(nexudus, "?size=1")["TotalItems"] == before


@pytest.mark.parametrize("bound", ["2025-01-15T10:30", "2025-01-15T10:30:00", "2025-01-15T10:30:00Z"])
def test_range_bounds_take_the_documented_format(nexudus, bound):
    listing(nexudus, f"?from_CrmOpportunityHistory_ToTime={bound}")


@pytest.mark.parametrize("bound", ["2025-01-15", "2025-01-15T10:30:00.5Z", "2025-01-15T10:30+02:00", "2025-02-30T10:30"])
def test_other_range_bounds_are_refused(nexudus, bound):
    rejected(nexudus.get(f"{HISTORIES}?from_CrmOpportunityHistory_ToTime={bound}", headers=NEXUDUS_AUTH),
             "listCrmOpportunityHistories", 400)


def save(client, method: str, **body) -> dict:
    response = client.open(OPPORTUNITIES, method=method, json=body, headers=NEXUDUS_AUTH)
    return answered(response, "createCrmOpportunity" if method == "POST" else "updateCrmOpportunity")


def test_creating_an_opportunity_places_it_and_writes_its_first_history(nexudus):
    """POST /api/crm/crmopportunities: the documented required fields, the ActionResult envelope,
    the customer's names resolved, and the placement recorded in the stage history."""
    stages, customer = columns(nexudus), opportunity(nexudus, 1204567)["CoworkerId"]
    made = save(nexudus, "POST", CrmBoardColumnId=stages["Contacted"]["Id"], CoworkerId=customer, Position=3,
                Name="Private office - 6 desks", Value=5400, DueDate="2031-03-01T00:00:00+01:00")
    assert made["Message"] == "CrmOpportunity was successfully created." and made["WasSuccessful"] is True
    record = opportunity(nexudus, made["Value"]["Id"])
    assert (record["Name"], record["Value"], record["Position"], record["DueDate"]) == (
        "Private office - 6 desks", 5400, 3, "2031-02-28T23:00:00Z")
    assert (record["CrmBoardColumnName"], record["Status"], record["CoworkerId"]) == ("Contacted", 1, customer)
    history = listing(nexudus, f"?CrmOpportunityHistory_CrmOpportunity={record['Id']}")["Records"]
    assert [(h["OldCrmBoardColumnId"], h["NewCrmBoardColumnId"]) for h in history] == [(None, stages["Contacted"]["Id"])]
    assert record["Id"] in [o["Id"] for o in opportunities(nexudus, f"?size=100&CrmOpportunity_Coworker={customer}")["Records"]]


def test_updating_to_another_stage_moves_it_and_records_the_move(nexudus):
    stages, customer = columns(nexudus), opportunity(nexudus, 1204567)["CoworkerId"]
    key = save(nexudus, "POST", CrmBoardColumnId=stages["New"]["Id"], CoworkerId=customer, Position=0,
               Name="Hot desks", Notes="call back")["Value"]["Id"]
    same = save(nexudus, "PUT", Id=key, CrmBoardColumnId=stages["New"]["Id"], CoworkerId=customer, Position=1)
    assert same["Message"] == "CrmOpportunity was successfully updated."
    record = opportunity(nexudus, key)
    assert (record["Position"], record["Name"], record["Notes"]) == (1, None, None)  # full record: omitted is null
    save(nexudus, "PUT", Id=key, CrmBoardColumnId=stages["Won"]["Id"], CoworkerId=customer, Position=0)
    won = opportunity(nexudus, key)
    assert (won["CrmBoardColumnName"], won["Status"]) == ("Won", 2) and won["WonOn"]
    moves = listing(nexudus, f"?CrmOpportunityHistory_CrmOpportunity={key}")["Records"]
    assert [(m["OldCrmBoardColumnName"], m["NewCrmBoardColumnName"]) for m in moves] == [(None, "New"), ("New", "Won")]
    assert moves[1]["FromTime"] == moves[0]["ToTime"]  # it entered "New" when it was placed


@pytest.mark.parametrize(("method", "body", "status", "named"), [
    ("POST", {"CrmBoardColumnId": 300, "CoworkerId": 1040}, 400, "Position"),
    ("POST", {"CrmBoardColumnId": 1, "CoworkerId": 1040, "Position": 0}, 400, "CrmBoardColumnId"),
    ("POST", {"CrmBoardColumnId": 300, "CoworkerId": 7, "Position": 0}, 400, "CoworkerId"),
    ("POST", {"CrmBoardColumnId": 300, "CoworkerId": 1040, "Position": -1}, 400, "Position"),
    ("PUT", {"CrmBoardColumnId": 300, "CoworkerId": 1040, "Position": 0}, 400, "Id"),
    ("PUT", {"Id": 999, "CrmBoardColumnId": 300, "CoworkerId": 1040, "Position": 0}, 404, None),
])
def test_a_bad_opportunity_write_changes_nothing(nexudus, method, body, status, named):
    before = (opportunities(nexudus, "?size=100"), listing(nexudus, "?size=100"))
    response = nexudus.open(OPPORTUNITIES, method=method, json=body, headers=NEXUDUS_AUTH)
    operation = "createCrmOpportunity" if method == "POST" else "updateCrmOpportunity"
    answer = rejected(response, operation, status)
    if named:
        assert [e["PropertyName"] for e in answer["Errors"]][0] == named
    assert (opportunities(nexudus, "?size=100"), listing(nexudus, "?size=100")) == before
