"""CrmOpportunity: the deals the stage history moves. Each sits in the stage of its latest history
entry, with the Status that stage implies; `follow_history` keeps it so after every history write."""
from __future__ import annotations

from mock_server.problems import not_found
from mock_server.store import Query
from mock_server.vendors.base import Call, Reply, Vendor, operation
from mock_server.vendors.nexudus.lists import paged

OPPORTUNITY = "CrmOpportunity"
IN_PROGRESS, WON, LOST = 1, 2, 3  # eCrmOpportunityStatus (Nexudus REST API reference)
OPPORTUNITY_FILTERS = {"CrmOpportunity_CrmBoardColumn": "CrmBoardColumnId", "CrmOpportunity_Status": "Status",
                       "CrmOpportunity_Name": "Name"}
OPPORTUNITY_RANGES = {"CrmOpportunity_CreatedOn": "CreatedOn", "CrmOpportunity_UpdatedOn": "UpdatedOn"}


def new_opportunity(vendor: Vendor, key: int, name: str, column: dict, when: str, by: str | None) -> dict:
    """An opportunity just placed in `column` (its first stage)."""
    record = {"Id": key, "UniqueId": vendor.ids.guid(vendor.collection("crmopportunities")),
              "CreatedOn": when, "UpdatedOn": when, "UpdatedBy": by, "IsNew": False, "SystemId": None,
              "Name": name, "Position": 0, "Value": None, "Notes": None, "DueDate": None,
              "WonOn": None, "LostOn": None}
    return _placed(vendor, record, column, when)


def _placed(vendor: Vendor, record: dict, column: dict, moved_at: str | None) -> dict:
    """`record` in `column`: the stage's names, and the status a Win/Lose stage implies."""
    board = vendor.store.get(vendor.collection("crmboards"), column["CrmBoardId"]) or {}
    status = WON if column.get("WinOpportunity") else LOST if column.get("LoseOpportunity") else IN_PROGRESS
    return {**record, "CrmBoardColumnId": column["Id"], "CrmBoardColumnName": column["Name"],
            "CrmBoardColumnCrmBoardId": column["CrmBoardId"], "CrmBoardColumnCrmBoardName": board.get("Name", ""),
            "Status": status,
            "WonOn": (record.get("WonOn") or moved_at) if status == WON else None,
            "LostOn": (record.get("LostOn") or moved_at) if status == LOST else None}


def follow_history(vendor: Vendor, opportunity_id: int | None, when: str, by: str | None) -> None:
    """Move the opportunity to the stage of its latest history entry (by ToTime, then Id); an
    opportunity without history stays where it is. Called inside the history write's transaction."""
    current = vendor.store.get(vendor.collection("crmopportunities"), opportunity_id) if opportunity_id else None
    if current is None:
        return
    latest, _ = vendor.store.query(vendor.collection("crmopportunityhistories"),
                                   Query([("CrmOpportunityId", "eq", opportunity_id)], [("ToTime", True), ("Id", True)],
                                         0, 1))
    column = vendor.lookup("crmboardcolumns", latest[0]["NewCrmBoardColumnId"]) if latest else None
    if column is None:
        return
    moved = _placed(vendor, current, column, latest[0]["ToTime"] or when)
    if moved != current:
        vendor.store.replace(vendor.collection("crmopportunities"), opportunity_id,
                             {**moved, "UpdatedOn": when, "UpdatedBy": by})


class Opportunities(Vendor):
    """The CrmOpportunity handlers' part of the Nexudus vendor (read-only here)."""

    @operation("listCrmOpportunities")
    def list_opportunities(self, call: Call) -> Reply:
        return paged(self, "crmopportunities", call.query, OPPORTUNITY_FILTERS, OPPORTUNITY_RANGES)

    @operation("getCrmOpportunity")
    def get_opportunity(self, call: Call) -> Reply:
        record = self.store.get(self.collection("crmopportunities"), call.path["id"])
        if record is None:
            raise not_found(OPPORTUNITY)
        return Reply(200, record)
