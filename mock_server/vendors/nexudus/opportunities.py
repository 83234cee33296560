"""CrmOpportunity: the deals the stage history moves. Each sits in the stage of its latest history
entry, with the Status that stage implies; a create or a change of stage writes that history entry
(moves.py), as Nexudus does on every stage move."""
from __future__ import annotations

from mock_server.problems import not_found
from mock_server.vendors.base import Call, Reply, Vendor, operation
from mock_server.vendors.nexudus.formats import next_id, nexudus_datetime, normalized
from mock_server.vendors.nexudus.lists import paged
from mock_server.vendors.nexudus.moves import action_result, actor_email, placed, record_move, resolve

OPPORTUNITY = "CrmOpportunity"
OPPORTUNITY_FILTERS = {"CrmOpportunity_CrmBoardColumn": "CrmBoardColumnId", "CrmOpportunity_Status": "Status",
                       "CrmOpportunity_Name": "Name", "CrmOpportunity_Coworker": "CoworkerId"}
OPPORTUNITY_RANGES = {"CrmOpportunity_CreatedOn": "CreatedOn", "CrmOpportunity_UpdatedOn": "UpdatedOn"}
# (body field, collection, entity name): references a create/update must resolve.
REFERENCES = (("CrmBoardColumnId", "crmboardcolumns", "CrmBoardColumn"), ("CoworkerId", "coworkers", "Coworker"))


def new_opportunity(vendor: Vendor, key: int, name: str | None, column: dict, coworker: dict, when: str,
                    by: str | None) -> dict:
    """An opportunity just placed in `column` (its first stage), for `coworker` (the customer)."""
    record = {"Id": key, "UniqueId": vendor.ids.guid(vendor.collection("crmopportunities")),
              "CreatedOn": when, "UpdatedOn": when, "UpdatedBy": by, "IsNew": False, "SystemId": None,
              "Name": name, **_coworker_fields(coworker), "Position": 0, "Value": None, "Notes": None,
              "DueDate": None, "WonOn": None, "LostOn": None}
    return placed(vendor, record, column, when)


def _coworker_fields(coworker: dict) -> dict:
    return {"CoworkerId": coworker["Id"], "CoworkerFullName": coworker["FullName"],
            "CoworkerEmail": coworker["Email"], "CoworkerCompanyName": coworker["CompanyName"]}


def _opportunity(vendor: Vendor, key) -> dict:
    record = vendor.store.get(vendor.collection("crmopportunities"), key)
    if record is None:
        raise not_found(OPPORTUNITY)
    return record


class Opportunities(Vendor):
    """The CrmOpportunity handlers' part of the Nexudus vendor."""

    def _save_opportunity(self, call: Call, verb: str, update: bool) -> Reply:
        """Create, or update the whole record named by the body's Id (the Nexudus way: omitted
        optional fields become null), in one transaction with the stage move it makes."""
        body, by = call.body, actor_email(call.principal)
        with self.store.transaction():
            current = _opportunity(self, body["Id"]) if update else None  # read inside: workers share the store
            found = resolve(self, body, REFERENCES)
            when = nexudus_datetime(self.store.now())
            column = found["CrmBoardColumnId"]
            if current is None:
                record = new_opportunity(self, next_id(self, "crmopportunities"), None, column,
                                         found["CoworkerId"], when, by)
            else:
                record = {**current, **_coworker_fields(found["CoworkerId"]), "UpdatedOn": when, "UpdatedBy": by}
            record.update(Name=body.get("Name"), Position=body["Position"], Value=body.get("Value"),
                          Notes=body.get("Notes"), DueDate=normalized(body.get("DueDate"), "DueDate"))
            moved_from = None if current is None else self.lookup("crmboardcolumns", current["CrmBoardColumnId"])
            if current is None or current["CrmBoardColumnId"] != column["Id"]:
                record = placed(self, record, column, when)
                user = call.principal.user if call.principal.user.get("Id") in self.static("users") else None
                record_move(self, record, moved_from, column, when, by, user)
            if current is None:
                self.store.insert(self.collection("crmopportunities"), record["Id"], record)
            else:
                self.store.replace(self.collection("crmopportunities"), record["Id"], record)
        return action_result(OPPORTUNITY, verb, record["Id"], when, by)

    @operation("createCrmOpportunity")
    def create_opportunity(self, call: Call) -> Reply:
        return self._save_opportunity(call, "created", update=False)

    @operation("updateCrmOpportunity")
    def update_opportunity(self, call: Call) -> Reply:
        return self._save_opportunity(call, "updated", update=True)

    @operation("listCrmOpportunities")
    def list_opportunities(self, call: Call) -> Reply:
        return paged(self, "crmopportunities", call.query, OPPORTUNITY_FILTERS, OPPORTUNITY_RANGES)

    @operation("getCrmOpportunity")
    def get_opportunity(self, call: Call) -> Reply:
        return Reply(200, _opportunity(self, call.path["id"]))
