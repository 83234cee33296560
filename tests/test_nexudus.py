"""Nexudus through its HTTP surface: history records, envelopes, tokens and errors in Nexudus's shape."""
from __future__ import annotations

import pytest

from mock_server import load_spec
from tests.conftest import NEXUDUS_AUTH, assert_conforms, basic, bearer

HISTORIES = "/api/crm/crmopportunityhistories"
COLUMNS = "/api/crm/crmboardcolumns"
TOKEN = "/api/token"
SPEC = load_spec("nexudus")
ENVELOPE_KEYS = {"Status", "Message", "Value", "OpenInDialog", "OpenInWindow", "RedirectURL", "JavaScript",
                 "UpdatedOn", "UpdatedBy", "Errors", "WasSuccessful"}
READER = {"full_name": "Rita Reader", "email": "rita@example.com"}
WRITER = {"full_name": "Will Writer", "email": "will@example.com"}
KEYS = {"nexudus": [
    {"credentials": {"OAuth2": "tok-reader", "BasicAuth": "rita@example.com:secret"}, "user": READER,
     "roles": ["CrmOpportunityHistory-List", "CrmBoardColumn-List"]},
    {"credentials": {"OAuth2": "tok-writer", "BasicAuth": "will@example.com:secret"}, "user": WRITER,
     "roles": ["CrmOpportunityHistory-Create", "CrmOpportunityHistory-List", "CrmBoardColumn-List"]},
]}


def conforms(response, operation_id: str | None) -> dict:
    """Requests that match no operation (unknown path, wrong method) answer the generic `MessageResponse`."""
    if operation_id is not None:
        return assert_conforms("nexudus", response, operation_id)
    errors = [e.message for e in SPEC.validator(SPEC.component_schema("MessageResponse")).iter_errors(response.get_json())]
    assert not errors, errors
    return response.get_json()


@pytest.fixture
def nexudus(make_client):
    return make_client("nexudus", strict=True)


def columns(client, auth=NEXUDUS_AUTH) -> dict[str, dict]:
    page = conforms(client.get(COLUMNS, headers=auth), "listCrmBoardColumns")
    return {c["Name"]: c for c in page["Records"]}


def admins(client) -> list[dict]:
    """The seeded admin users (no Nexudus endpoint serves them; the control API does)."""
    return client.get("/__mock/records/nexudus.users").get_json()["records"]


def create(client, auth=NEXUDUS_AUTH, **body) -> dict:
    return answered(client.post(HISTORIES, json=body, headers=auth), "createCrmOpportunityHistory")


def get(client, record_id: int) -> dict:
    return answered(client.get(f"{HISTORIES}/{record_id}", headers=NEXUDUS_AUTH), "getCrmOpportunityHistory")


def listing(client, query: str = "", auth=NEXUDUS_AUTH) -> dict:
    return answered(client.get(f"{HISTORIES}{query}", headers=auth), "listCrmOpportunityHistories")


def answered(response, operation_id: str | None, status: int = 200) -> dict:
    """The response has `status` and the body the spec gives that operation for it."""
    assert response.status_code == status, response.get_json()
    return conforms(response, operation_id)


def rejected(response, operation_id: str | None, status: int) -> dict:
    return answered(response, operation_id, status)


def password_token(client, username="admin@example.com", password="S3cur3P@ss") -> dict:
    response = client.post(TOKEN, data={"grant_type": "password", "username": username, "password": password})
    assert response.status_code == 200, response.get_json()
    return conforms(response, "issueToken")


# -- the world --------------------------------------------------------------------------------------
def test_one_board_with_ordered_won_and_lost_columns(nexudus):
    by_name = columns(nexudus)
    assert [c["Position"] for c in by_name.values()] == [0, 1, 2, 3, 4]
    assert list(by_name) == ["New", "Contacted", "Proposal", "Won", "Lost"]
    assert len({c["CrmBoardId"] for c in by_name.values()}) == 1
    assert by_name["Won"]["WinOpportunity"] and not by_name["Won"]["LoseOpportunity"]
    assert by_name["Lost"]["LoseOpportunity"] and not by_name["Lost"]["WinOpportunity"]
    assert not any(c["WinOpportunity"] or c["LoseOpportunity"] for c in list(by_name.values())[:3])


def test_seeded_history_chains_each_opportunity_across_columns(make_client):
    client = make_client("nexudus", seed_data=20)
    records = listing(client, "?size=100&orderBy=ToTime")["Records"]
    assert len(records) == 20
    by_opportunity: dict[int, list[dict]] = {}
    for record in records:
        by_opportunity.setdefault(record["CrmOpportunityId"], []).append(record)
    names = {c["Id"]: c["Name"] for c in columns(client).values()}
    for moves in by_opportunity.values():
        assert moves[0]["OldCrmBoardColumnId"] is None and moves[0]["FromTime"] is None
        assert moves[0]["NewCrmBoardColumnName"] == "New"
        for before, after in zip(moves, moves[1:], strict=False):
            assert after["OldCrmBoardColumnId"] == before["NewCrmBoardColumnId"]
            assert after["FromTime"] == before["ToTime"]
        for move in moves:
            assert move["NewCrmBoardColumnName"] == names[move["NewCrmBoardColumnId"]]


def test_same_seed_same_world_other_seed_other_world(make_client):
    def world(seed: int):
        # Snapshot at once: with SQLite every app opens the same file and reseeds it on start.
        client = make_client("nexudus", seed_data=10, seed=seed)
        return listing(client, "?size=100"), columns(client)

    first = world(7)
    assert world(7) == first
    assert world(8) != first


# -- create, read, list, update, delete ---------------------------------------------------------------
def test_seed_example_request_answers_the_seed_envelope(nexudus):
    column = columns(nexudus)["New"]
    result = create(nexudus, NewCrmBoardColumnId=column["Id"])
    assert set(result) == ENVELOPE_KEYS
    assert result["Status"] == 200 and result["WasSuccessful"] is True and result["Errors"] is None
    assert result["Message"] == "CrmOpportunityHistory was successfully created."
    assert result["OpenInDialog"] is False and result["OpenInWindow"] is False
    assert result["RedirectURL"] is None and result["JavaScript"] is None
    assert result["UpdatedBy"] == admins(nexudus)[0]["Email"]
    record = get(nexudus, result["Value"]["Id"])
    assert record["NewCrmBoardColumnName"] == "New"
    assert record["UserId"] is None and record["OldCrmBoardColumnId"] is None  # not given: kept null
    assert record["CreatedOn"] == record["UpdatedOn"] == result["UpdatedOn"]


def test_create_resolves_column_and_user_names(nexudus):
    by_name, user = columns(nexudus), admins(nexudus)[1]
    opportunity = nexudus.get("/__mock/records/nexudus.crmopportunities").get_json()["records"][0]
    result = create(nexudus, CrmOpportunityId=opportunity["Id"], OldCrmBoardColumnId=by_name["Contacted"]["Id"],
                    NewCrmBoardColumnId=by_name["Proposal"]["Id"], FromTime="2025-01-10T09:00:00+01:00",
                    ToTime="2025-01-15T10:30:00Z", UserId=user["Id"])
    record = get(nexudus, result["Value"]["Id"])
    assert record["OldCrmBoardColumnName"] == "Contacted" and record["NewCrmBoardColumnName"] == "Proposal"
    assert record["UserFullName"] == user["FullName"]
    assert record["FromTime"] == "2025-01-10T08:00:00Z"  # stored in Nexudus's UTC format


def test_create_get_list_update_delete_round_trip(nexudus):
    by_name = columns(nexudus)
    created = create(nexudus, NewCrmBoardColumnId=by_name["New"]["Id"], ToTime="2025-01-08T14:05:00Z")
    record_id = created["Value"]["Id"]
    record = get(nexudus, record_id)
    assert listing(nexudus)["Records"] == [record]

    # Nexudus clients PUT back what they read, changed: read-only fields in the body are ignored.
    sent = {**record, "NewCrmBoardColumnId": by_name["Won"]["Id"], "OldCrmBoardColumnId": by_name["New"]["Id"]}
    response = nexudus.put(HISTORIES, json=sent, headers=NEXUDUS_AUTH)
    updated = conforms(response, "updateCrmOpportunityHistory")
    assert response.status_code == 200
    assert updated["Message"] == "CrmOpportunityHistory was successfully updated."
    assert updated["Value"] == {"Id": record_id}
    after = get(nexudus, record_id)
    assert after["NewCrmBoardColumnName"] == "Won" and after["OldCrmBoardColumnName"] == "New"
    assert after["ToTime"] == "2025-01-08T14:05:00Z"
    assert after["CreatedOn"] == record["CreatedOn"] and after["UniqueId"] == record["UniqueId"]
    assert after["UpdatedOn"] >= record["UpdatedOn"]

    deleted = conforms(nexudus.delete(f"{HISTORIES}/{record_id}", headers=NEXUDUS_AUTH), "deleteCrmOpportunityHistory")
    assert deleted["Message"] == "CrmOpportunityHistory was successfully deleted." and deleted["WasSuccessful"]
    assert listing(nexudus)["Records"] == []
    missing = rejected(nexudus.get(f"{HISTORIES}/{record_id}", headers=NEXUDUS_AUTH), "getCrmOpportunityHistory", 404)
    assert missing == {"Message": "CrmOpportunityHistory not found.", "Value": None, "Errors": [],
                       "WasSuccessful": False}


def test_update_replaces_the_whole_record(nexudus):
    by_name, user = columns(nexudus), admins(nexudus)[0]
    record_id = create(nexudus, NewCrmBoardColumnId=by_name["Proposal"]["Id"], UserId=user["Id"],
                       ToTime="2025-01-15T10:30:00Z")["Value"]["Id"]
    response = nexudus.put(HISTORIES, json={"Id": record_id, "NewCrmBoardColumnId": by_name["Lost"]["Id"]},
                           headers=NEXUDUS_AUTH)
    conforms(response, "updateCrmOpportunityHistory")
    after = get(nexudus, record_id)
    assert after["NewCrmBoardColumnName"] == "Lost"
    assert after["UserId"] is None and after["UserFullName"] is None and after["ToTime"] is None


def test_update_and_delete_of_unknown_ids_are_404(nexudus):
    column_id = columns(nexudus)["New"]["Id"]
    put = nexudus.put(HISTORIES, json={"Id": 99999999, "NewCrmBoardColumnId": column_id}, headers=NEXUDUS_AUTH)
    assert rejected(put, "updateCrmOpportunityHistory", 404)["Message"] == "CrmOpportunityHistory not found."
    rejected(nexudus.delete(f"{HISTORIES}/99999999", headers=NEXUDUS_AUTH), "deleteCrmOpportunityHistory", 404)


# -- validation ---------------------------------------------------------------------------------------
def test_missing_new_column_is_a_required_field(nexudus):
    body = rejected(nexudus.post(HISTORIES, json={"CrmOpportunityId": 1204567}, headers=NEXUDUS_AUTH),
                    "createCrmOpportunityHistory", 400)
    assert body == {
        "Message": "NewCrmBoardColumnId: is a required field", "Value": None, "WasSuccessful": False,
        "Errors": [{"AttemptedValue": None, "Message": "is a required field", "PropertyName": "NewCrmBoardColumnId"}],
    }


def test_unknown_references_name_each_property(nexudus):
    column_id = columns(nexudus)["New"]["Id"]
    body = rejected(nexudus.post(HISTORIES, json={"NewCrmBoardColumnId": 123, "OldCrmBoardColumnId": column_id,
                                                  "UserId": 456}, headers=NEXUDUS_AUTH),
                    "createCrmOpportunityHistory", 400)
    assert [(e["PropertyName"], e["AttemptedValue"]) for e in body["Errors"]] == [
        ("NewCrmBoardColumnId", 123), ("UserId", 456)]
    assert body["Message"] == "NewCrmBoardColumnId: does not match an existing CrmBoardColumn"
    assert body["WasSuccessful"] is False and body["Value"] is None


def test_wrong_types_read_like_aspnet(nexudus):
    body = rejected(nexudus.post(HISTORIES, json={"NewCrmBoardColumnId": "abc"}, headers=NEXUDUS_AUTH),
                    "createCrmOpportunityHistory", 400)
    assert body["Errors"] == [{"AttemptedValue": "abc", "Message": "The value 'abc' is not valid for NewCrmBoardColumnId.",
                               "PropertyName": "NewCrmBoardColumnId"}]
    rejected(nexudus.get(f"{HISTORIES}/abc", headers=NEXUDUS_AUTH), "getCrmOpportunityHistory", 400)
    rejected(nexudus.get(f"{HISTORIES}?size=5000", headers=NEXUDUS_AUTH), "listCrmOpportunityHistories", 400)


def test_transport_faults(nexudus):
    malformed = nexudus.post(HISTORIES, data="{nope", content_type="application/json", headers=NEXUDUS_AUTH)
    assert rejected(malformed, "createCrmOpportunityHistory", 400)["Errors"] == []
    rejected(nexudus.post(HISTORIES, data="NewCrmBoardColumnId=1", content_type="text/plain", headers=NEXUDUS_AUTH),
             "createCrmOpportunityHistory", 415)
    huge = b'{"NewCrmBoardColumnId": 1, "pad": "' + b"x" * (1024 * 1024) + b'"}'
    rejected(nexudus.post(HISTORIES, data=huge, content_type="application/json", headers=NEXUDUS_AUTH),
             "createCrmOpportunityHistory", 413)
    rejected(nexudus.get("/api/crm/nothinghere", headers=NEXUDUS_AUTH), None, 404)
    wrong_method = nexudus.patch(HISTORIES, json={}, headers=NEXUDUS_AUTH)
    rejected(wrong_method, None, 405)
    assert set(wrong_method.headers["Allow"].split(", ")) == {"GET", "POST", "PUT"}


def test_rejected_requests_change_nothing(make_client):
    client = make_client("nexudus", seed_data=5, keys=KEYS, strict=True)
    before = listing(client, "?size=100", bearer("tok-writer"))
    column_id = columns(client, bearer("tok-writer"))["New"]["Id"]
    client.post(HISTORIES, json={"NewCrmBoardColumnId": column_id, "UserId": 1}, headers=bearer("tok-writer"))
    client.post(HISTORIES, json={"NewCrmBoardColumnId": column_id}, headers=bearer("tok-reader"))
    client.post(HISTORIES, json={"NewCrmBoardColumnId": column_id}, headers=bearer("nobody"))
    client.post(HISTORIES, data="{", content_type="application/json", headers=bearer("tok-writer"))
    client.delete(f"{HISTORIES}/{before['Records'][0]['Id']}", headers=bearer("tok-writer"))  # lacks the role
    client.put(HISTORIES, json={"Id": before["Records"][0]["Id"]}, headers=bearer("tok-writer"))
    assert listing(client, "?size=100", bearer("tok-writer")) == before


# -- lists ----------------------------------------------------------------------------------------------
def test_paging_envelope_arithmetic(make_client):
    client = make_client("nexudus", seed_data=7, strict=True)
    page_two = listing(client, "?size=3&page=2")
    assert len(page_two["Records"]) == 3
    assert {k: v for k, v in page_two.items() if k != "Records"} == {
        "CurrentPage": 2, "CurrentPageSize": 3, "CurrentOrderField": "Id", "CurrentSortDirection": 0,
        "FirstItem": 4, "LastItem": 6, "TotalItems": 7, "TotalPages": 3, "HasNextPage": True, "HasPreviousPage": True}
    last = listing(client, "?size=3&page=3")
    assert (last["FirstItem"], last["LastItem"], last["HasNextPage"]) == (7, 7, False)
    past = listing(client, "?size=3&page=9")
    assert past["Records"] == [] and (past["FirstItem"], past["LastItem"]) == (0, 0)
    ids = [r["Id"] for r in listing(client, "?size=100")["Records"]]
    assert [r["Id"] for r in page_two["Records"]] == ids[3:6]
    descending = listing(client, "?size=100&dir=1")
    assert [r["Id"] for r in descending["Records"]] == ids[::-1]


def test_filters_and_ranges(make_client):
    client = make_client("nexudus", seed_data=12, strict=True)
    everything = listing(client, "?size=100")["Records"]
    opportunity = everything[0]["CrmOpportunityId"]
    mine = listing(client, f"?size=100&CrmOpportunityHistory_CrmOpportunity={opportunity}")["Records"]
    assert mine == [r for r in everything if r["CrmOpportunityId"] == opportunity]
    middle = sorted(r["ToTime"] for r in everything)[6]
    later = listing(client, f"?size=100&from_CrmOpportunityHistory_ToTime={middle}")["Records"]
    assert later == [r for r in everything if r["ToTime"] >= middle]
    until = listing(client, f"?size=100&to_CrmOpportunityHistory_ToTime={middle[:16]}")["Records"]  # YYYY-MM-DDTHH:mm
    assert until == [r for r in everything if r["ToTime"] <= middle[:16] + ":00Z"]
    assert listing(client, "?CrmOpportunityHistory_User=1")["TotalItems"] == 0


# -- auth -------------------------------------------------------------------------------------------------
def test_missing_or_malformed_credentials_are_401(nexudus):
    body = rejected(nexudus.get(HISTORIES), "listCrmOpportunityHistories", 401)
    assert body == {"Message": "Authorization has been denied for this request."}
    rejected(nexudus.get(HISTORIES, headers={"Authorization": "Bearer"}), "listCrmOpportunityHistories", 401)
    rejected(nexudus.get(HISTORIES, headers={"Authorization": "Token abc"}), "listCrmOpportunityHistories", 401)


def test_issued_token_is_accepted_and_refreshes(nexudus):
    issued = password_token(nexudus)
    assert issued["token_type"] == "bearer" and issued["expires_in"] == 604799
    listing(nexudus, auth=bearer(issued["access_token"]))
    refresh = nexudus.post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]})
    renewed = conforms(refresh, "issueToken")
    assert renewed["access_token"] != issued["access_token"]
    listing(nexudus, auth=bearer(renewed["access_token"]))
    reused = nexudus.post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]})
    assert rejected(reused, "issueToken", 400)["error"] == "invalid_grant"
    other_client = nexudus.post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": renewed["refresh_token"]},
                                headers={"client_id": "someone-else"})  # the client_id defaults to the username
    assert rejected(other_client, "issueToken", 400)["error"] == "invalid_grant"


def test_issued_tokens_are_kept_only_as_digests(make_client):
    """The pair is the client's alone: the records, a snapshot file and a named snapshot hold digests,
    and a token still works after a restore or a reset to the snapshot (with a keys file, where only
    the listed credentials and the issued tokens are accepted)."""
    nexudus = make_client("nexudus", keys=KEYS)
    issued = password_token(nexudus, "rita@example.com", "secret")
    assert nexudus.put("/__mock/snapshots/with-token").status_code == 200
    records = nexudus.get("/__mock/records/nexudus.tokens").get_data(as_text=True)
    snapshot = nexudus.get("/__mock/snapshot").get_data(as_text=True)
    for text in (records, snapshot):
        assert issued["access_token"] not in text and issued["refresh_token"] not in text
    assert '"access_token_sha256"' in records and '"refresh_token_sha256"' in records
    assert nexudus.post("/__mock/restore", data=snapshot, content_type="application/json").status_code == 200
    listing(nexudus, auth=bearer(issued["access_token"]))
    assert nexudus.post("/__mock/reset?to=with-token").status_code == 200
    assert nexudus.delete("/__mock/snapshots/with-token").status_code == 200  # a shared database keeps it
    refresh = nexudus.post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]})
    listing(nexudus, auth=bearer(conforms(refresh, "issueToken")["access_token"]))
    rejected(nexudus.get(HISTORIES, headers=bearer(issued["access_token"])), "listCrmOpportunityHistories", 401)


def test_ten_concurrent_uses_of_one_refresh_token_exactly_one_succeeds(nexudus):
    import threading

    issued = password_token(nexudus)
    start, statuses = threading.Barrier(10), []

    def use() -> None:
        client = nexudus.application.test_client()  # one client per thread
        start.wait()
        statuses.append(client.post(TOKEN, data={"grant_type": "refresh_token",
                                                 "refresh_token": issued["refresh_token"]}).status_code)

    threads = [threading.Thread(target=use) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(statuses) == [200] + [400] * 9
    assert len(nexudus.get("/__mock/records/nexudus.tokens").get_json()["records"]) == 1


@pytest.mark.parametrize(("send", "error"), [
    ({"json": {"grant_type": "password", "username": "a@b.c", "password": "x"}}, "unsupported_grant_type"),
    ({"data": {"grant_type": "client_credentials"}}, "unsupported_grant_type"),
    ({"data": {"username": "a@b.c", "password": "x"}}, "unsupported_grant_type"),
    ({"data": {"grant_type": "password", "username": "a@b.c"}}, "invalid_request"),
    ({"data": {"grant_type": "refresh_token"}}, "invalid_request"),
    ({"data": {"grant_type": "refresh_token", "refresh_token": "never-issued"}}, "invalid_grant"),
])
def test_token_errors_are_oauth_bodies(nexudus, send, error):
    assert rejected(nexudus.post(TOKEN, **send), "issueToken", 400)["error"] == error


def test_keys_file_roles_are_enforced(make_client):
    client = make_client("nexudus", keys=KEYS, strict=True)
    column_id = columns(client, bearer("tok-writer"))["New"]["Id"]
    denied = client.post(HISTORIES, json={"NewCrmBoardColumnId": column_id}, headers=bearer("tok-reader"))
    assert rejected(denied, "createCrmOpportunityHistory", 403) == {
        "Message": "Authorization has been denied for this request."}
    listing(client, auth=bearer("tok-reader"))
    result = create(client, bearer("tok-writer"), NewCrmBoardColumnId=column_id)
    assert result["UpdatedBy"] == "will@example.com"  # the keys-file user's email
    rejected(client.post(HISTORIES, json={"NewCrmBoardColumnId": column_id}, headers=basic("rita@example.com", "secret")),
             "createCrmOpportunityHistory", 403)  # Basic carries the account's roles too
    listing(client, auth=basic("rita@example.com", "secret"))
    rejected(client.get(HISTORIES, headers=bearer("tok-unknown")), "listCrmOpportunityHistories", 401)


def test_password_grant_with_a_keys_file(make_client):
    client = make_client("nexudus", keys=KEYS, strict=True)
    wrong = client.post(TOKEN, data={"grant_type": "password", "username": "rita@example.com", "password": "nope"})
    assert rejected(wrong, "issueToken", 400)["error"] == "invalid_grant"
    issued = password_token(client, "rita@example.com", "secret")
    listing(client, auth=bearer(issued["access_token"]))  # accepted although not in the keys file
    column_id = columns(client, bearer(issued["access_token"]))["New"]["Id"]
    denied = client.post(HISTORIES, json={"NewCrmBoardColumnId": column_id}, headers=bearer(issued["access_token"]))
    rejected(denied, "createCrmOpportunityHistory", 403)  # the token carries the entry's roles


@pytest.mark.parametrize("query", [
    {"from_CrmOpportunityHistory_CreatedOn": "2025-13-01T00:00"},
    {"to_CrmOpportunityHistory_ToTime": "2025-01-01T25:00"},
    {"from_CrmOpportunityHistory_CreatedOn": "2025-02-30T00:00"},
    {"CrmOpportunityHistory_User": "2147483648"},       # .NET int32: out of range is a 400
    {"CrmOpportunityHistory_CrmOpportunity": "-2147483649"},
])
def test_impossible_filter_values_are_a_400_envelope(nexudus, query):
    response = nexudus.get(HISTORIES, query_string=query, headers=NEXUDUS_AUTH)
    assert response.status_code == 400
    body = conforms(response, "listCrmOpportunityHistories")
    assert body["WasSuccessful"] is False and body["Errors"][0]["PropertyName"] == next(iter(query))
