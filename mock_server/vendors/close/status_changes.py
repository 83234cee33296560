"""Opportunity statuses and their history: the OpportunityStatusChange activity Close records when
an opportunity moves, and the status and status-change handlers."""
from __future__ import annotations

from mock_server.problems import not_found, validation_failed
from mock_server.store import Query
from mock_server.timefmt import parse_utc
from mock_server.vendors.base import Call, Reply, operation
from mock_server.vendors.close.filters import filters, only_fields
from mock_server.vendors.close.formats import close_datetime


class StatusChanges:
    """Mixed into Close (uses `statuses` and `acting_user` from World, `_find` from Opportunities)."""

    def _status_change(self, opp: dict, old: dict | None, new: dict, actor: dict, when: str) -> dict:
        """The OpportunityStatusChange activity Close records when an opportunity changes status."""
        activity = {
            "_type": "OpportunityStatusChange",
            "id": self.ids.prefixed("acti"),
            "contact_id": opp.get("contact_id"),
            "created_by": actor["id"], "created_by_name": actor.get("name"),
            "updated_by": actor["id"], "updated_by_name": actor.get("name"),
            "user_id": actor["id"], "user_name": actor.get("name"),
            "date_created": when, "date_updated": when,
            "lead_id": opp["lead_id"],
            "new_status_id": new["id"], "new_status_label": new["label"], "new_status_type": new["type"],
            "old_status_id": old["id"] if old else None,
            "old_status_label": old["label"] if old else None,
            "old_status_type": old["type"] if old else None,
            "opportunity_id": opp["id"],
            "opportunity_date_won": opp.get("date_won"),
            "opportunity_value": opp.get("value"),
            "opportunity_value_currency": opp.get("value_currency"),
            "opportunity_value_formatted": opp.get("value_formatted"),
            "organization_id": opp["organization_id"],
        }
        self.store.insert(self.collection("activities"), activity["id"], activity)
        return activity

    def _activity(self, key: str) -> dict:
        record = self.store.get(self.collection("activities"), key)
        if record is None:
            raise not_found("Activity")
        return record

    @operation("listOpportunityStatusChanges")
    def list_status_changes(self, call: Call) -> Reply:
        q = call.query
        # A status change happens when it is recorded: activity_at is its date_created.
        aliased = {k.replace("activity_at__", "date_created__", 1): v for k, v in q.items() if k.startswith("activity_at__")}
        where = filters(q, ("lead_id", "opportunity_id", "user_id", "contact_id"), ("date_created",))
        where += filters(aliased, (), ("date_created",))
        if q.get("id__in"):
            where.append(("id", "in", q["id__in"].split(",")))
        order_by = q.get("_order_by", "-date_created")
        order = [("date_created", order_by.startswith("-"))]
        skip, limit = q.get("_skip", 0), q.get("_limit", 100)
        page = Query(where, order, skip, limit)
        if q.get("_fields"):
            rows, total = self.store.query(self.collection("activities"), page)
            rows = [only_fields(r, q["_fields"]) for r in rows]
        else:
            rows, total = self.store.page(self.collection("activities"), page)
        return Reply(200, {"data": rows, "has_more": skip + len(rows) < total})

    @operation("createOpportunityStatusChange")
    def create_status_change(self, call: Call) -> Reply:
        """An import of past history: recorded as sent, the opportunity itself does not change."""
        data, problems = call.body, []
        with self.store.transaction():
            opp = self._find("opportunities", data["opportunity_id"], problems, "opportunity_id")
            new = self._find("statuses", data["new_status_id"], problems, "new_status_id")
            old = self._find("statuses", data["old_status_id"], problems, "old_status_id") \
                if data.get("old_status_id") is not None else None
            actor = self.acting_user(call.principal)
            if data.get("user_id") is not None:
                actor = self._find("users", data["user_id"], problems, "user_id") or actor
            if problems:
                raise validation_failed(problems)
            sent = data.get("date_created")
            when = close_datetime(parse_utc(sent, "date_created") if sent else self.store.now())
            return Reply(200, self._status_change(opp, old, new, actor, when))

    @operation("getOpportunityStatusChange")
    def get_status_change(self, call: Call) -> Reply:
        return Reply(200, self._activity(call.path["id"]))

    @operation("deleteOpportunityStatusChange")
    def delete_status_change(self, call: Call) -> Reply:
        self.remove("activities", call.path["id"], "Activity")
        return Reply(200, {})

    @operation("listOpportunityStatuses")
    def list_statuses(self, call: Call) -> Reply:
        return Reply(200, {"data": self.statuses(), "has_more": False})
