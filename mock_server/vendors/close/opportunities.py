"""Close's opportunity rules: resolving references, composing the record with its derived fields,
saving it with its status-change history, and the opportunity handlers."""
from __future__ import annotations

import re
from datetime import datetime

from mock_server.problems import Problem, not_found, validation_failed
from mock_server.store import Query
from mock_server.timefmt import just_after, parse_utc
from mock_server.vendors.base import Call, Reply, operation
from mock_server.vendors.close.errors import does_not_exist
from mock_server.vendors.close.filters import filters, only_fields
from mock_server.vendors.close.formats import close_datetime, value_fields


class Opportunities:
    """Mixed into Close (uses `statuses`, `organization` and `acting_user` from World, and records
    history with `_status_change` from StatusChanges)."""

    # -- references --------------------------------------------------------------------------------
    def _find(self, kind: str, key, problems: list[Problem], field: str):
        record = self.lookup(kind, key) if isinstance(key, str) else None
        if record is None:
            problems.append(does_not_exist(field, key))
        return record

    def _opportunity(self, key: str) -> dict:
        record = self.store.get(self.collection("opportunities"), key)
        if record is None:
            raise not_found("Opportunity")
        return record

    def _resolve(self, data: dict, current: dict | None) -> dict:
        """Look up every referenced object; unknown references are a 400 naming the field."""
        problems: list[Problem] = []
        found = {}
        if data.get("status_id") is not None:
            found["status"] = self._find("statuses", data["status_id"], problems, "status_id")
        elif current is None:
            found["status"] = self.statuses()[0]  # the organization's default (first) status
        if data.get("lead_id") is not None:
            found["lead"] = self._find("leads", data["lead_id"], problems, "lead_id")
        for field, kind in (("user_id", "users"), ("created_by", "users"), ("contact_id", "contacts")):
            if data.get(field) is not None:
                found[field] = self._find(kind, data[field], problems, field)
        if problems:
            raise validation_failed(problems)
        return found

    def _untitled_lead(self) -> dict:
        lead = {"id": self.ids.prefixed("lead"), "display_name": "Untitled", "name": None, "contacts": []}
        self.store.insert(self.collection("leads"), lead["id"], lead)
        return lead

    def _user(self, key, fallback: dict) -> dict:
        return (self.lookup("users", key) if key else None) or fallback

    def _references(self, data: dict, record: dict, found: dict, actor: dict) -> dict:
        """What the opportunity points at: the resolved references, else the stored ones, else defaults."""
        status = found.get("status") or self.lookup("statuses", record["status_id"])
        # On a create `record` is empty, so every stored reference below falls to its default.
        return {
            "status": status,
            "lead": found.get("lead") or self.lookup("leads", record.get("lead_id")) or self._untitled_lead(),
            "user": found.get("user_id") or self._user(record.get("user_id"), actor),
            "contact": found.get("contact_id") if "contact_id" in data
            else self.lookup("contacts", record.get("contact_id")),
            "creator": found.get("created_by") or actor,  # only a create sets the creator
            "pipeline": self.lookup("pipelines", status["pipeline_id"]),
        }

    # -- the record --------------------------------------------------------------------------------
    def _compose(self, data: dict, current: dict | None, found: dict, actor: dict, now: datetime,
                 key: str | None = None) -> dict:
        """The full Opportunity as Close answers it: stored fields plus every derived field
        (`key`: the id of a new one, when it is not to be minted)."""
        # Parse first: a bad value is refused before anything (an Untitled lead) is written.
        date_created, date_won_sent = _sent_dates(data)
        record = dict(current or {})
        for name, value in custom_fields(data).items():
            if value is None:  # Close returns only custom fields that have a value
                record.pop(name, None)
            else:
                record[name] = value
        refs = self._references(data, record, found, actor)
        date_won, date_lost = _status_dates(refs["status"], current, record, date_won_sent, now)
        record.update({
            "id": record.get("id") or key or self.ids.prefixed("oppo"),
            "organization_id": self.organization["id"],
            **_linked_fields(refs, record, current, actor),
            "note": data["note"] if "note" in data else record.get("note"),
            "date_created": close_datetime(date_created or now) if date_created or not current
            else record["date_created"],
            "date_updated": close_datetime(now),
            "date_won": date_won,
            "date_lost": date_lost,
            "attachments": [
                {"content_type": a.get("content_type", ""), "filename": a["filename"], "size": None,
                 "thumbnail_url": None, "url": a["url"]} for a in (data.get("attachments") or [])
            ] if "attachments" in data else record.get("attachments", []),
            "comment_summary": None,
            "integration_links": [],
            "is_stalled": False,
            "stall_status": None,
            "suggested_action": None,
            **_money_fields(data, record),
        })
        return record

    def save_opportunity(self, data: dict, actor: dict, current: dict | None = None) -> dict:
        """Create or update, in one transaction: the record and, on a status change, its history."""
        with self.store.transaction():
            if current is not None:  # re-read inside the transaction: another worker may have written
                current = self._opportunity(current["id"])
            found = self._resolve(data, current)
            # Close prints milliseconds: a second change within one still shows as later.
            now = self.store.now(after=just_after(current["date_updated"]) if current else None)
            record = self._compose(data, current, found, actor, now)
            if current is None:
                self.store.insert(self.collection("opportunities"), record["id"], record)
            else:
                self.store.replace(self.collection("opportunities"), record["id"], record)
            if current is None or current["status_id"] != record["status_id"]:
                old = self.lookup("statuses", current["status_id"]) if current else None
                new = self.lookup("statuses", record["status_id"])
                self._status_change(record, old, new, actor, record["date_updated"])
            return record

    # -- handlers ----------------------------------------------------------------------------------
    @operation("createOpportunity")
    def create_opportunity(self, call: Call) -> Reply:
        return Reply(200, self.save_opportunity(call.body or {}, self.acting_user(call.principal)))

    @operation("getOpportunity")
    def get_opportunity(self, call: Call) -> Reply:
        return Reply(200, self._opportunity(call.path["id"]))

    @operation("updateOpportunity")
    def update_opportunity(self, call: Call) -> Reply:
        current = self._opportunity(call.path["id"])
        return Reply(200, self.save_opportunity(call.body or {}, self.acting_user(call.principal), current))

    @operation("deleteOpportunity")
    def delete_opportunity(self, call: Call) -> Reply:
        self.remove("opportunities", call.path["id"], "Opportunity")
        return Reply(200, {})

    @operation("listOpportunities")
    def list_opportunities(self, call: Call) -> Reply:
        q = call.query
        where = filters(q, ("lead_id", "user_id", "status_id", "status_type", "status_label", "value_period"),
                        ("date_created", "date_updated", "date_won"))
        if q.get("query"):
            where += search_terms(q["query"], set(self.spec.document["components"]["schemas"]["Opportunity"]
                                                   ["properties"]))
        order = []
        if q.get("_order_by"):
            name = q["_order_by"]
            order = [(name.lstrip("-"), name.startswith("-"))]
        skip, limit = q.get("_skip", 0), q.get("_limit", 100)
        page = Query(where, order, skip, limit)
        if q.get("_fields"):
            rows, total = self.store.query(self.collection("opportunities"), page)
            rows = [only_fields(r, q["_fields"]) for r in rows]
        else:
            rows, total = self.store.page(self.collection("opportunities"), page)
        sums = self.store.group_sums(self.collection("opportunities"), where, "value_period",
                                     ("value", "expected_value", "annualized_value", "annualized_expected_value"))
        return Reply(200, {"data": rows, "has_more": skip + len(rows) < total, "total_results": total,
                           **list_totals(sums)})


def _sent_dates(data: dict) -> tuple[datetime | None, str | None]:
    """The sent date_created (a datetime) and date_won (a date string), parsed; None if not sent."""
    date_created = parse_utc(data["date_created"], "date_created") if data.get("date_created") else None
    date_won = parse_utc(data["date_won"], "date_won").date().isoformat() if data.get("date_won") else None
    return date_created, date_won


def _status_dates(status: dict, current: dict | None, record: dict, date_won_sent: str | None,
                  now: datetime) -> tuple[str | None, str | None]:
    """date_won and date_lost: sent or kept, else stamped when the opportunity enters that status."""
    status_changed = current is None or current["status_id"] != status["id"]
    date_won = date_won_sent or record.get("date_won")
    if status["type"] == "won" and status_changed and not date_won:
        date_won = now.date().isoformat()  # set when it becomes won; kept if it moves back
    date_lost = record.get("date_lost")
    if status["type"] == "lost" and status_changed and not date_lost:
        date_lost = close_datetime(now)
    return date_won, date_lost


def _linked_fields(refs: dict, record: dict, current: dict | None, actor: dict) -> dict:
    """The ids and names of what the opportunity points at, copied onto it as Close does."""
    lead, contact, status, pipeline = refs["lead"], refs["contact"], refs["status"], refs["pipeline"]
    user, creator = refs["user"], refs["creator"]
    first_contact = (lead.get("contacts") or [None])[0]
    return {
        "lead_id": lead["id"],
        "lead_name": lead.get("display_name"),
        "lead_primary_email": first_contact and first_contact.get("primary_email"),
        "lead_primary_phone": first_contact and first_contact.get("phones"),
        "contact_id": contact["id"] if contact else None,
        "contact_name": contact["name"] if contact else None,
        "status_id": status["id"],
        "status_label": status["label"],
        "status_type": status["type"],
        "status_display_name": status["label"],
        "pipeline_id": pipeline["id"] if pipeline else None,
        "pipeline_name": pipeline["name"] if pipeline else None,
        "user_id": user["id"],
        "user_name": user.get("name"),
        "created_by": record["created_by"] if current else creator["id"],
        "created_by_name": record["created_by_name"] if current else creator.get("name"),
        "updated_by": actor["id"],
        "updated_by_name": actor.get("name"),
    }


def _money_fields(data: dict, record: dict) -> dict:
    """value_fields from the sent value, confidence and period, else the stored ones."""

    def pick(name, default):
        return data[name] if data.get(name) is not None else record.get(name, default)

    value = data["value"] if "value" in data else record.get("value")
    return value_fields(value, pick("confidence", 0), pick("value_period", "one_time"))


def custom_fields(data: dict) -> dict:
    """`custom.FIELD_ID` keys as sent, and the deprecated `custom_fields` dict as the same keys (seed 004)."""
    fields = {f"custom.{k}": v for k, v in (data.get("custom_fields") or {}).items()}
    fields.update({k: v for k, v in data.items() if k.startswith("custom.")})
    return fields


PERIODS = ("one_time", "monthly", "annual")


def list_totals(sums: dict) -> dict:
    """The aggregates every opportunity list carries, over all matching records, not only the page
    (Close API reference, "List or filter opportunities")."""
    def total(field: str, period: str | None = None) -> int:
        groups = [sums.get(period, {})] if period else sums.values()
        return sum(int(g.get(field, 0)) for g in groups)

    return {
        "count_by_value_period": {p: sums[p]["count"] for p in PERIODS if p in sums},
        **{f"total_value_{p}": total("value", p) for p in PERIODS},
        "total_value_annualized": total("annualized_value"),
        **{f"expected_value_{p}": total("expected_value", p) for p in PERIODS},
        "expected_value_annualized": total("annualized_expected_value"),
    }


CUSTOM_FIELD = re.compile(r"custom\.[A-Za-z0-9_]+")
SEARCHABLE = ("note", "lead_name", "contact_name", "status_label", "user_name", "pipeline_name")


def search_terms(query: str, properties: set[str]) -> list[tuple]:
    """Close's `query` on an opportunity list: `field:text` finds `text` in that opportunity property
    (`note:important`; "only opportunity properties may be used"); a bare word is looked for in its
    text properties. Terms combine with AND. Close's `status_change(...)` terms are not served."""
    where = []
    for term in query.split():
        field, colon, text = term.partition(":")
        if not colon:
            where.append((SEARCHABLE, "contains", term.lower()))
            continue
        if field not in properties and not CUSTOM_FIELD.fullmatch(field):
            raise validation_failed([Problem("query", "invalid", f"{field!r} is not an opportunity property "
                                             "this mock can search; use one of the Opportunity fields, e.g. note:text",
                                             query)])
        where.append((field, "contains", text.lower()))
    return where
