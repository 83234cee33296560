"""SprintHub's opportunities: created and updated in a funnel, answered with their lead and company
embedded, and dated whenever they change status or column."""
from __future__ import annotations

from datetime import datetime

from mock_server.problems import Problem, validation_failed
from mock_server.timefmt import just_after, parse_utc
from mock_server.vendors.base import Call, Reply, operation
from mock_server.vendors.sprinthub.formats import js_datetime

INPUT_FIELDS = ("title", "value", "crm_column", "lead_id", "sequence", "status", "expectedCloseDate", "user")
STATUS_DATE = {"gain": "gain_date", "lost": "lost_date", "open": "reopen_date"}  # stamped on entering a status
INTERNAL_FIELDS = ("funnel_id", "instance")  # stored with an opportunity, never answered
UPDATED = "The opportunity has been updated."


def public(record: dict) -> dict:
    """An opportunity as answered: without the bookkeeping crm-mock keeps next to it."""
    return {k: v for k, v in record.items() if k not in INTERNAL_FIELDS}


def blank_opportunity(opp_id: int, stamp: str) -> dict:
    """A new opportunity with SprintHub's defaults, keys in the order of the seed's answer."""
    return {
        "id": opp_id, "title": "", "value": 0, "crm_column": None, "lead_id": None, "sequence": None,
        "status": "open", "loss_reason": None, "gain_reason": None, "expectedCloseDate": None,
        "sale_channel": None, "campaign": None, "user": None,
        "last_column_change": None, "last_status_change": None,
        "gain_date": None, "lost_date": None, "reopen_date": None,
        "await_column_approved": None, "await_column_approved_user": None,
        "reject_appro": None, "reject_appro_desc": None,
        "createDate": stamp, "updateDate": stamp,
        "sprint_permission": "all", "sprint_permission_user": None, "sprint_permission_department": None,
        "sprint_permission_users": [], "sprint_permission_users_select": [],
        "sprint_permission_departments": [], "sprint_permission_departments_select": [],
        "dataLead": None, "dataCompany": None, "dataCompanyExtra": [],
        "fields": {}, "files": [], "filesData": [],
    }


def stamp_changes(record: dict, before: dict, stamp: str) -> None:
    """The dates SprintHub keeps about moves; earlier gain/lost/reopen dates are kept as history."""
    if record["status"] != before["status"]:
        record["last_status_change"] = stamp
        record[STATUS_DATE[record["status"]]] = stamp
    if record["crm_column"] != before["crm_column"]:
        record["last_column_change"] = stamp


class Opportunities:
    """The opportunity operations, mixed into `SprintHub` (whose `_next_id` and `acting_user_id` they use)."""

    def _funnel(self, funnel_id: int) -> dict:
        funnel = self.lookup("funnels", funnel_id)
        if funnel is None:
            raise validation_failed([Problem("id", "not_found", f"Funnel {funnel_id} does not exist.", funnel_id)])
        return funnel

    def _opportunity(self, key: int, funnel_id: int, instance: str) -> dict:
        """The opportunity addressed by ID *in this funnel of this instance* (the URL names all three):
        an instance is a SprintHub account, so another instance's opportunity does not exist here.
        Unknown is a 400, as a Problem so that /__mock/requests says why behind the bare "Invalid request"."""
        record = self.store.get(self.collection("opportunities"), key)
        if record is None or record["funnel_id"] != funnel_id or record["instance"] != instance:
            message = f"Opportunity {key} does not exist in funnel {funnel_id} of instance {instance!r}."
            raise validation_failed([Problem("opportunityId", "not_found", message, key)])
        return record

    def _check_references(self, data: dict, funnel: dict, actor_id: int) -> dict | None:
        """Every ID the body names must exist (all unknown ones reported together); returns the lead."""
        problems = []

        def refuse(field: str, message: str) -> None:
            problems.append(Problem(field, "not_found", message, data[field]))

        lead = self.lookup("leads", data["lead_id"]) if "lead_id" in data else None
        if "lead_id" in data and lead is None:
            refuse("lead_id", f"Lead {data['lead_id']} does not exist.")
        if "crm_column" in data and data["crm_column"] not in {c["id"] for c in funnel["columns"]}:
            refuse("crm_column", f"Column {data['crm_column']} is not a column of funnel {funnel['id']}.")
        if "user" in data and not self._is_user(data["user"], actor_id):
            refuse("user", f"User {data['user']} does not exist.")
        if problems:
            raise validation_failed(problems)
        return lead

    def _is_user(self, user_id: int, actor_id: int) -> bool:
        return user_id == actor_id or self.lookup("users", user_id) is not None

    def _embed(self, record: dict, lead: dict) -> None:
        """The lead and its company, as SprintHub embeds them in every answer."""
        company = self.lookup("companies", lead["company"]) if lead.get("company") else None
        record["dataLead"] = lead
        record["dataCompany"] = company
        record["dataCompanyExtra"] = [{k: v for k, v in company.items() if k != "_id"}] if company else []

    def _new(self, funnel: dict, instance: str, actor_id: int, stamp: str) -> dict:
        """A fresh opportunity in the funnel's first column, owned by the caller until told otherwise."""
        record = blank_opportunity(self._next_id("opportunities"), stamp)
        record.update(crm_column=funnel["columns"][0]["id"], user=actor_id, funnel_id=funnel["id"], instance=instance)
        return record

    def save_opportunity(self, data: dict, funnel_id: int, instance: str, actor_id: int,
                         key: int | None = None, moment: datetime | None = None) -> dict:
        """Create (no `key`) or partially update, in one transaction. `moment` dates seeded history."""
        with self.store.transaction():
            funnel = self._funnel(funnel_id)
            current = None if key is None else self._opportunity(key, funnel_id, instance)
            lead = self._check_references(data, funnel, actor_id)  # before minting: refusals use no ID
            # SprintHub prints milliseconds: a second change within one still shows as later.
            stamp = js_datetime(moment or self.store.now(after=just_after(current["updateDate"]) if current else None))
            record = dict(current) if current else self._new(funnel, instance, actor_id, stamp)
            record.update({k: data[k] for k in INPUT_FIELDS if k in data})
            if "expectedCloseDate" in data:
                record["expectedCloseDate"] = js_datetime(parse_utc(data["expectedCloseDate"], "expectedCloseDate"))
            record["fields"] = {**record["fields"], **data.get("fields", {})}  # custom fields merge
            # A new opportunity starts open in the column it is given: only its status can change.
            stamp_changes(record, current or {"status": "open", "crm_column": record["crm_column"]}, stamp)
            record["updateDate"] = stamp
            lead = lead or (self.lookup("leads", record["lead_id"]) if record["lead_id"] is not None else None)
            if lead is not None:  # the seed's table requires no field: an opportunity may have no lead yet
                self._embed(record, lead)
            if current is None:
                self.store.insert(self.collection("opportunities"), record["id"], record)
            else:
                self.store.replace(self.collection("opportunities"), record["id"], record)
            return record

    @operation("createOpportunity")
    def create_opportunity(self, call: Call) -> Reply:
        actor = self.acting_user_id(call.principal)
        record = self.save_opportunity(call.body, call.query["id"], call.query["i"], actor)
        return Reply(200, public(record))

    @operation("updateOpportunity")
    def update_opportunity(self, call: Call) -> Reply:
        actor = self.acting_user_id(call.principal)
        record = self.save_opportunity(call.body, call.query["id"], call.query["i"], actor,
                                       key=call.path["opportunityId"])
        return Reply(200, {"msg": UPDATED, "data": public(record)})
