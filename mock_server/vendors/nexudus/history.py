"""CrmOpportunityHistory: the rules a stage-history record follows, and its five handlers."""
from __future__ import annotations

from mock_server.problems import not_found
from mock_server.vendors.base import Call, Reply, Vendor, operation
from mock_server.vendors.nexudus.formats import nexudus_datetime
from mock_server.vendors.nexudus.lists import paged
from mock_server.vendors.nexudus.moves import action_result, actor_email, follow_history, history_entry, resolve

HISTORY = "CrmOpportunityHistory"

# (body field, collection, entity name): references create/update must resolve.
REFERENCES = (("NewCrmBoardColumnId", "crmboardcolumns", "CrmBoardColumn"),
              ("OldCrmBoardColumnId", "crmboardcolumns", "CrmBoardColumn"),
              ("CrmOpportunityId", "crmopportunities", "CrmOpportunity"),
              ("UserId", "users", "User"))
# List filters: `Entity_Field` equality parameters and `from_X`/`to_X` date ranges → record fields.
HISTORY_FILTERS = {"CrmOpportunityHistory_CrmOpportunity": "CrmOpportunityId",
                   "CrmOpportunityHistory_OldCrmBoardColumn": "OldCrmBoardColumnId",
                   "CrmOpportunityHistory_NewCrmBoardColumn": "NewCrmBoardColumnId",
                   "CrmOpportunityHistory_User": "UserId"}
HISTORY_RANGES = {"CrmOpportunityHistory_CreatedOn": "CreatedOn", "CrmOpportunityHistory_ToTime": "ToTime"}


def _history(vendor: Vendor, key: int) -> dict:
    record = vendor.store.get(vendor.collection("crmopportunityhistories"), key)
    if record is None:
        raise not_found(HISTORY)
    return record


class OpportunityHistory(Vendor):
    """The CrmOpportunityHistory handlers' part of the Nexudus vendor."""

    def _save_history(self, call: Call, verb: str, update: bool) -> Reply:
        """Create, or update the whole record named by the body's Id, in one transaction."""
        body, by = call.body, actor_email(call.principal)
        with self.store.transaction():
            current = _history(self, body["Id"]) if update else None  # read inside: workers share SQLite
            found = resolve(self, body, REFERENCES)
            when = nexudus_datetime(self.store.now())
            record = history_entry(self, body, found, when, by, current=current)
            if current is None:
                self.store.insert(self.collection("crmopportunityhistories"), record["Id"], record)
            else:
                self.store.replace(self.collection("crmopportunityhistories"), record["Id"], record)
            # The opportunity follows its latest stage move (and the one an update took it from).
            for moved in {record["CrmOpportunityId"], current and current["CrmOpportunityId"]}:
                follow_history(self, moved, when, by)
        return action_result(HISTORY, verb, record["Id"], when, by)

    @operation("createCrmOpportunityHistory")
    def create_history(self, call: Call) -> Reply:
        return self._save_history(call, "created", update=False)

    @operation("updateCrmOpportunityHistory")
    def update_history(self, call: Call) -> Reply:
        return self._save_history(call, "updated", update=True)

    @operation("getCrmOpportunityHistory")
    def get_history(self, call: Call) -> Reply:
        return Reply(200, _history(self, call.path["id"]))

    @operation("deleteCrmOpportunityHistory")
    def delete_history(self, call: Call) -> Reply:
        by = actor_email(call.principal)
        with self.store.transaction():
            record = _history(self, call.path["id"])
            self.remove("crmopportunityhistories", call.path["id"], HISTORY)
            when = nexudus_datetime(self.store.now())
            follow_history(self, record["CrmOpportunityId"], when, by)
        return action_result(HISTORY, "deleted", call.path["id"], when, by)

    @operation("listCrmOpportunityHistories")
    def list_histories(self, call: Call) -> Reply:
        return paged(self, "crmopportunityhistories", call.query, HISTORY_FILTERS, HISTORY_RANGES)
