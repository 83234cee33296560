"""A stage move, written the Nexudus way: the CrmOpportunityHistory entry it leaves, the opportunity
it places, and the ActionResult a write answers. History and opportunity handlers both write moves,
so the rules that keep the two in step live here, once."""
from __future__ import annotations

from mock_server.identity import Principal
from mock_server.problems import Problem, validation_failed
from mock_server.store import Query
from mock_server.vendors.base import Reply, Vendor
from mock_server.vendors.nexudus.formats import next_id, normalized

IN_PROGRESS, WON, LOST = 1, 2, 3  # eCrmOpportunityStatus (Nexudus REST API reference)
FALLBACK_EMAIL = "api.user@example.com"  # a keys-file user without an email still needs an UpdatedBy


def actor_email(principal: Principal) -> str:
    """UpdatedBy is the caller's email; keys-file users may spell the key in lower case."""
    user = principal.user
    return user.get("Email") or user.get("email") or FALLBACK_EMAIL


def action_result(entity: str, verb: str, record_id: int, when: str, by: str) -> Reply:
    """Nexudus' `ActionResult` envelope (seed 000) for a successful write."""
    return Reply(200, {
        "Status": 200, "Message": f"{entity} was successfully {verb}.", "Value": {"Id": record_id},
        "OpenInDialog": False, "OpenInWindow": False, "RedirectURL": None, "JavaScript": None,
        "UpdatedOn": when, "UpdatedBy": by, "Errors": None, "WasSuccessful": True,
    })


def resolve(vendor: Vendor, body: dict, references: tuple[tuple[str, str, str], ...]) -> dict:
    """Look up each (body field, collection, entity) the body names; unknown ones are a 400 with
    one entry per property. Absent or null fields are skipped."""
    problems, found = [], {}
    for field, kind, entity in references:
        value = body.get(field)
        if value is None:
            continue
        found[field] = vendor.lookup(kind, value)
        if found[field] is None:
            problems.append(Problem(field, "not_found", f"does not match an existing {entity}", value))
    if problems:
        raise validation_failed(problems)
    return found


def history_entry(vendor: Vendor, body: dict, found: dict, when: str, by: str | None,
                  current: dict | None = None) -> dict:
    """The stored history record: the body's writable fields (absent ones null) plus the resolved names."""
    old, new, user = found.get("OldCrmBoardColumnId"), found["NewCrmBoardColumnId"], found.get("UserId")
    kept = current or {
        "Id": next_id(vendor, "crmopportunityhistories"),
        "UniqueId": vendor.ids.guid(vendor.collection("crmopportunityhistories")),
        "CreatedOn": when, "SystemId": None,
    }
    return {  # keys in the spec's order
        "Id": kept["Id"], "UniqueId": kept["UniqueId"], "CreatedOn": kept["CreatedOn"],
        "UpdatedOn": when, "UpdatedBy": by, "IsNew": False, "SystemId": kept["SystemId"],
        "CrmOpportunityId": body.get("CrmOpportunityId"),
        "OldCrmBoardColumnId": old and old["Id"], "OldCrmBoardColumnName": old and old["Name"],
        "NewCrmBoardColumnId": new["Id"], "NewCrmBoardColumnName": new["Name"],
        "FromTime": normalized(body.get("FromTime"), "FromTime"),
        "ToTime": normalized(body.get("ToTime"), "ToTime"),
        "UserId": user and user["Id"], "UserFullName": user and user["FullName"],
    }


def placed(vendor: Vendor, record: dict, column: dict, moved_at: str | None) -> dict:
    """`record` in `column`: the stage's names, and the status a Win/Lose stage implies."""
    board = vendor.store.get(vendor.collection("crmboards"), column["CrmBoardId"]) or {}
    status = WON if column.get("WinOpportunity") else LOST if column.get("LoseOpportunity") else IN_PROGRESS
    return {**record, "CrmBoardColumnId": column["Id"], "CrmBoardColumnName": column["Name"],
            "CrmBoardColumnCrmBoardId": column["CrmBoardId"], "CrmBoardColumnCrmBoardName": board.get("Name", ""),
            "Status": status,
            "WonOn": (record.get("WonOn") or moved_at) if status == WON else None,
            "LostOn": (record.get("LostOn") or moved_at) if status == LOST else None}


def latest_move(vendor: Vendor, opportunity_id: int) -> dict | None:
    """The opportunity's latest history entry (by ToTime, then Id)."""
    latest, _ = vendor.store.query(vendor.collection("crmopportunityhistories"),
                                   Query([("CrmOpportunityId", "eq", opportunity_id)], [("ToTime", True), ("Id", True)],
                                         0, 1))
    return latest[0] if latest else None


def follow_history(vendor: Vendor, opportunity_id: int | None, when: str, by: str | None) -> None:
    """Move the opportunity to the stage of its latest history entry; an opportunity without
    history stays where it is. Called inside the history write's transaction."""
    current = vendor.store.get(vendor.collection("crmopportunities"), opportunity_id) if opportunity_id else None
    if current is None:
        return
    latest = latest_move(vendor, opportunity_id)  # type: ignore[arg-type]
    column = vendor.lookup("crmboardcolumns", latest["NewCrmBoardColumnId"]) if latest else None
    if column is None:
        return
    moved = placed(vendor, current, column, latest["ToTime"] or when)  # type: ignore[index]
    if moved != current:
        vendor.store.replace(vendor.collection("crmopportunities"), opportunity_id,
                             {**moved, "UpdatedOn": when, "UpdatedBy": by})


def record_move(vendor: Vendor, opportunity: dict, old: dict | None, new: dict, when: str, by: str | None,
                user: dict | None) -> dict:
    """Nexudus writes a history entry on every stage move, a placement included (Old null):
    the entry for `opportunity` going from `old` to `new` at `when`, stored."""
    previous = latest_move(vendor, opportunity["Id"]) if old else None
    entered = previous["ToTime"] if previous else (opportunity["CreatedOn"] if old else None)
    body = {"CrmOpportunityId": opportunity["Id"], "FromTime": entered, "ToTime": when}
    found = {"NewCrmBoardColumnId": new, "OldCrmBoardColumnId": old, "UserId": user}
    record = history_entry(vendor, body, found, when, by)
    vendor.store.insert(vendor.collection("crmopportunityhistories"), record["Id"], record)
    return record
