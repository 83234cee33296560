"""CrmOpportunityHistory: the rules a stage-history record follows, and its five handlers."""
from __future__ import annotations

from mock_server.identity import Principal
from mock_server.problems import Problem, not_found, validation_failed
from mock_server.vendors.base import Call, Reply, Vendor, operation
from mock_server.vendors.nexudus.formats import next_id, nexudus_datetime, normalized
from mock_server.vendors.nexudus.lists import paged
from mock_server.vendors.nexudus.opportunities import follow_history

HISTORY = "CrmOpportunityHistory"
FALLBACK_EMAIL = "api.user@example.com"  # a keys-file user without an email still needs an UpdatedBy

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


def actor_email(principal: Principal) -> str:
    """UpdatedBy is the caller's email; keys-file users may spell the key in lower case."""
    user = principal.user
    return user.get("Email") or user.get("email") or FALLBACK_EMAIL


def _history(vendor: Vendor, key: int) -> dict:
    record = vendor.store.get(vendor.collection("crmopportunityhistories"), key)
    if record is None:
        raise not_found(HISTORY)
    return record


def _references(vendor: Vendor, body: dict) -> dict:
    """Look up every referenced record; unknown ones are a 400 with one entry per property."""
    problems, found = [], {}
    for field, kind, entity in REFERENCES:
        value = body.get(field)
        if value is None:
            continue
        found[field] = vendor.lookup(kind, value)
        if found[field] is None:
            problems.append(Problem(field, "not_found", f"does not match an existing {entity}", value))
    if problems:
        raise validation_failed(problems)
    return found


def entry(vendor: Vendor, body: dict, found: dict, when: str, by: str | None, current: dict | None = None) -> dict:
    """The stored record: the body's writable fields (absent ones null) plus the resolved names."""
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


def _action_result(verb: str, record_id: int, when: str, by: str) -> Reply:
    return Reply(200, {
        "Status": 200, "Message": f"{HISTORY} was successfully {verb}.", "Value": {"Id": record_id},
        "OpenInDialog": False, "OpenInWindow": False, "RedirectURL": None, "JavaScript": None,
        "UpdatedOn": when, "UpdatedBy": by, "Errors": None, "WasSuccessful": True,
    })


class OpportunityHistory(Vendor):
    """The CrmOpportunityHistory handlers' part of the Nexudus vendor."""

    def _save(self, call: Call, verb: str, update: bool) -> Reply:
        """Create, or update the whole record named by the body's Id, in one transaction."""
        body, by = call.body, actor_email(call.principal)
        with self.store.transaction():
            current = _history(self, body["Id"]) if update else None  # read inside: workers share SQLite
            found = _references(self, body)
            when = nexudus_datetime(self.store.now())
            record = entry(self, body, found, when, by, current=current)
            if current is None:
                self.store.insert(self.collection("crmopportunityhistories"), record["Id"], record)
            else:
                self.store.replace(self.collection("crmopportunityhistories"), record["Id"], record)
            # The opportunity follows its latest stage move (and the one an update took it from).
            for moved in {record["CrmOpportunityId"], current and current["CrmOpportunityId"]}:
                follow_history(self, moved, when, by)
        return _action_result(verb, record["Id"], when, by)

    @operation("createCrmOpportunityHistory")
    def create_history(self, call: Call) -> Reply:
        return self._save(call, "created", update=False)

    @operation("updateCrmOpportunityHistory")
    def update_history(self, call: Call) -> Reply:
        return self._save(call, "updated", update=True)

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
        return _action_result("deleted", call.path["id"], when, by)

    @operation("listCrmOpportunityHistories")
    def list_histories(self, call: Call) -> Reply:
        return paged(self, "crmopportunityhistories", call.query, HISTORY_FILTERS, HISTORY_RANGES)
