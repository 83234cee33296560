"""Close (api.close.com/api/v1): opportunities, status-change activities, statuses.

Everything Close-specific lives here: its error bodies, ID prefixes, money formatting, derived
fields, and the status-change history it records when an opportunity moves.
"""
from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta, timezone

from mock_server.identity import Principal
from mock_server.fakes import SEED_EPOCH, faker_for
from mock_server.ids import token
from mock_server.problems import MockError, Problem, not_found, validation_failed
from mock_server.store import Query
from mock_server.timefmt import iso_utc, parse_utc
from mock_server.vendors.base import Call, Reply, Vendor, operation
from mock_server.vendors.close.live import LIVE

UNAUTHORIZED = (
    "The server could not verify that you are authorized to access the URL requested.  You either "
    "supplied the wrong credentials (e.g. a bad password), or your browser doesn't understand how to "
    "supply the credentials required."
)
NO_ROUTE = (
    "The requested URL was not found on the server. If you entered the URL manually please check your "
    "spelling and try again."
)
DEFAULT_STATUSES = (("Active", "active"), ("Won", "won"), ("Lost", "lost"))
PERIOD_SUFFIX = {"one_time": "", "monthly": " monthly", "annual": " annually"}
# Close names reference fields after the object in field-errors: {"lead": "Object does not exist."}
REFERENCE_FIELDS = {"lead_id": "lead", "status_id": "status", "user_id": "user", "contact_id": "contact",
                    "opportunity_id": "opportunity", "old_status_id": "old_status", "new_status_id": "new_status"}
DOES_NOT_EXIST = "Object does not exist."
FILTER_OPERATORS = ("gt", "gte", "lt", "lte")


def close_datetime(moment: datetime) -> str:
    """Close writes `2013-08-23T21:21:11.862000+00:00`."""
    return iso_utc(moment, "microseconds") + "+00:00"


def format_money(cents: int | None, period: str) -> str | None:
    """Cents as Close shows them: 20000 → "$200", 100000 → "$1,000", 500 monthly → "$5 monthly"."""
    if cents is None:
        return None
    sign = "-" if cents < 0 else ""
    dollars, rest = divmod(abs(cents), 100)
    amount = f"{dollars:,}" if rest == 0 else f"{dollars:,}.{rest:02d}"
    return f"{sign}${amount}{PERIOD_SUFFIX.get(period, '')}"


def value_fields(value: int | None, confidence: int, period: str) -> dict:
    """The fields Close derives from value, confidence and period."""
    factor = 12 if period == "monthly" else 1
    expected = None if value is None else round(value * confidence / 100)
    return {
        "value": value,
        "value_period": period,
        "confidence": confidence,
        "expected_value": expected,
        "annualized_value": None if value is None else value * factor,
        "annualized_expected_value": None if expected is None else expected * factor,
        "value_currency": "USD",
        "value_formatted": format_money(value, period),
    }


class Close(Vendor):
    name = "close"
    LIVE = LIVE
    reject_unknown_query = True
    FIXTURES = {
        "opportunity": ("opportunities", "Opportunity"),
        "status_change": ("activities", "OpportunityStatusChange"),
        "status": ("statuses", "OpportunityStatus"),
    }
    STATIC_COLLECTIONS = frozenset({"organization", "pipelines", "statuses", "users"})

    # -- world -------------------------------------------------------------------------------------
    def seed_world(self, count: int) -> None:
        """The organization, its pipeline and statuses, users, and `count` opportunities on
        realistic leads, some moved to won/lost (so history exists). Same seed, same world."""
        fake = faker_for("en_US", self.seed)
        self._static.clear()
        self.store.pin_clock(SEED_EPOCH)
        documented = self._documented()
        org = {"id": documented["organization"], "name": fake.company()}
        self.store.insert(self.collection("organization"), org["id"], org)
        pipeline = {"id": documented["pipeline"], "name": "Sales", "organization_id": org["id"]}
        self.store.insert(self.collection("pipelines"), pipeline["id"], pipeline)
        for label, kind in DEFAULT_STATUSES:
            status = {"id": documented["statuses"].get(kind) or self.ids.prefixed("stat"), "label": label,
                      "type": kind, "pipeline_id": pipeline["id"], "organization_id": org["id"]}
            self.store.insert(self.collection("statuses"), status["id"], status)
        # Keys-file users belong to the organization too, so their ids resolve like any user's.
        for entry in self.keys.entries:
            keyed = self._as_user(dict(entry.user))
            self.store.insert(self.collection("users"), keyed["id"], keyed)
        users = []
        for n in range(3):
            first, last = documented["user"]["name"].split(" ", 1) if n == 0 else (fake.first_name(), fake.last_name())
            users.append({"id": documented["user"]["id"] if n == 0 else self.ids.prefixed("user"),
                          "name": f"{first} {last}", "email": f"{first}.{last}@{fake.domain_name()}".lower()})
            self.store.insert(self.collection("users"), users[-1]["id"], users[-1])
        leads = [self._seed_lead(fake, documented["lead"]["id"], documented["lead"]["name"])]
        # Leads carry several opportunities each in a large world; Faker is the costly part.
        leads += [self._seed_lead(fake) for _ in range(min(count // 2, 1000))]
        pick = fake.random.choice  # plain uniform choice: Faker's random_element weighs and is slow
        statuses = self.statuses()
        for done in range(count):
            if done % 1000 == 0:
                self.progress(done, count)
            when = fake.date_time_between(SEED_EPOCH, SEED_EPOCH + timedelta(days=300), tzinfo=timezone.utc)
            self.store.pin_clock(when)
            actor = pick(users)
            lead = pick(leads)
            opp = self.save_opportunity({
                "lead_id": lead["id"],
                "contact_id": lead["contacts"][0]["id"],
                "user_id": actor["id"],
                "value": fake.random_int(5, 2000) * 1000,
                "value_period": pick(("one_time", "one_time", "monthly", "annual")),
                "confidence": pick((10, 25, 50, 75, 90)),
                "note": fake.sentence(nb_words=8),
            }, actor)
            if fake.boolean(chance_of_getting_true=40):  # some deals close, and leave history
                self.store.pin_clock(when + timedelta(days=fake.random_int(1, 60)))
                self.save_opportunity({"status_id": pick(statuses[1:])["id"]}, actor, opp)
        self.progress(count, count)
        self.store.pin_clock(None)

    def _documented(self) -> dict:
        """The organization, pipeline, statuses, user and lead the spec's examples name (seed 003's
        status change; the Opportunity and OpportunityStatus examples). Seeding them makes a request
        copied from the docs work against the mock as it does against Close."""
        schemas = self.spec.document["components"]["schemas"]
        change = schemas["OpportunityStatusChange"]["example"]
        return {
            "organization": change["organization_id"],
            "pipeline": schemas["OpportunityStatus"]["example"]["pipeline_id"],
            "statuses": {change["old_status_type"]: change["old_status_id"], change["new_status_type"]: change["new_status_id"]},
            "user": {"id": change["user_id"], "name": change["user_name"]},
            "lead": {"id": change["lead_id"], "name": schemas["Opportunity"]["example"]["lead_name"]},
        }

    def _seed_lead(self, fake, lead_id: str | None = None, company: str | None = None) -> dict:
        company = company or fake.company()
        lead = {"id": lead_id or self.ids.prefixed("lead"), "display_name": company, "name": company, "contacts": []}
        for _ in range(fake.random_int(1, 2)):
            phone = fake.numerify("+1415555####")
            name = fake.name()
            contact = {
                "id": self.ids.prefixed("cont"), "lead_id": lead["id"], "name": name,
                "primary_email": {"email": fake.company_email(), "is_unsubscribed": False, "type": "office"},
                "phones": [{"phone": phone, "phone_formatted": f"+1 415-555-{phone[-4:]}", "type": "office",
                            "country": "US"}],
            }
            self.store.insert(self.collection("contacts"), contact["id"], contact)
            lead["contacts"].append(contact)
        self.store.insert(self.collection("leads"), lead["id"], lead)
        return lead

    @property
    def organization(self) -> dict:
        return self.first("organization")

    def statuses(self) -> list[dict]:
        return list(self.static("statuses").values())

    def default_principal(self, credentials: dict) -> Principal:
        return Principal(user=self.first("users"), credentials=credentials)

    def acting_user(self, principal: Principal) -> dict:
        """The caller as a Close user of the organization (keys-file users are seeded as users)."""
        return self._as_user(principal.user)

    def _as_user(self, user: dict) -> dict:
        """A keys-file user without an id gets a stable one, derived from its name."""
        if "id" in user:
            return user
        name = user.get("name") or user.get("email") or "API User"
        digest = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=4).digest(), "big")
        return {"id": "user_" + token(self.seed, "keyed-user", digest, 43), "name": name, **user}

    # -- errors ------------------------------------------------------------------------------------
    def error_reply(self, error: MockError, op) -> Reply:
        if error.reason == "validation":
            return Reply(400, {
                "errors": [p.message for p in error.problems if not p.field],
                "field-errors": {p.field: p.message for p in error.problems if p.field},
            })
        if error.reason == "malformed":
            return Reply(400, {"errors": [error.message], "field-errors": {}})
        if error.reason == "unauthorized":
            return Reply(401, {"error": UNAUTHORIZED})
        if error.reason == "not_found":
            return Reply(404, {"error": f"Empty query: {error.resource} matching query does not exist."})
        if error.reason == "no_route":
            return Reply(404, {"error": NO_ROUTE})
        if error.reason == "rate_limited":  # Retry-After comes with the error; RateLimit is Close's
            reset = error.details["reset"]
            return Reply(429, {"error": {"message": error.message, "rate_reset": round(reset, 2)}},
                         {"RateLimit": f"limit={error.details['limit']}, remaining=0, reset={math.ceil(reset)}"})
        return Reply(error.status, {"error": error.message})

    # -- opportunities -----------------------------------------------------------------------------
    def _find(self, kind: str, key, problems: list[Problem], field: str):
        record = self.lookup(kind, key) if isinstance(key, str) else None
        if record is None:
            problems.append(Problem(REFERENCE_FIELDS.get(field, field), "not_found", DOES_NOT_EXIST, key))
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

    def _compose(self, data: dict, current: dict | None, found: dict, actor: dict, now: datetime) -> dict:
        """The full Opportunity as Close answers it: stored fields plus every derived field."""
        # Parse first: a bad value is refused before anything (an Untitled lead) is written.
        date_created = parse_utc(data["date_created"], "date_created") if data.get("date_created") else None
        date_won_sent = parse_utc(data["date_won"], "date_won").date().isoformat() if data.get("date_won") else None
        record = dict(current or {})
        record.update({k: v for k, v in data.items() if k.startswith("custom.")})
        status = found.get("status") or self.lookup("statuses", record["status_id"])
        # On a create `record` is empty, so every stored reference below falls to its default.
        lead = found.get("lead") or self.lookup("leads", record.get("lead_id")) or self._untitled_lead()
        user = found.get("user_id") or self._user(record.get("user_id"), actor)
        contact = found.get("contact_id") if "contact_id" in data else self.lookup("contacts", record.get("contact_id"))
        creator = found.get("created_by") or actor  # only a create sets the creator
        pipeline = self.lookup("pipelines", status["pipeline_id"])

        def pick(name, default):
            return data[name] if data.get(name) is not None else record.get(name, default)

        confidence = pick("confidence", 0)
        period = pick("value_period", "one_time")
        value = data["value"] if "value" in data else record.get("value")
        status_changed = current is None or current["status_id"] != status["id"]
        date_won = date_won_sent or record.get("date_won")
        if status["type"] == "won" and status_changed and not date_won:
            date_won = now.date().isoformat()  # set when it becomes won; kept if it moves back
        date_lost = record.get("date_lost")
        if status["type"] == "lost" and status_changed and not date_lost:
            date_lost = close_datetime(now)
        first_contact = (lead.get("contacts") or [None])[0]
        record.update({
            "id": record.get("id") or self.ids.prefixed("oppo"),
            "organization_id": self.organization["id"],
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
            **value_fields(value, confidence, period),
        })
        return record

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

    def save_opportunity(self, data: dict, actor: dict, current: dict | None = None) -> dict:
        """Create or update, in one transaction: the record and, on a status change, its history."""
        with self.store.transaction():
            if current is not None:  # re-read inside the transaction: another worker may have written
                current = self._opportunity(current["id"])
            found = self._resolve(data, current)
            now = self.store.now()
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

    @operation("createOpportunity")
    def create_opportunity(self, call: Call) -> Reply:
        return Reply(200, self.save_opportunity(call.body, self.acting_user(call.principal)))

    @operation("getOpportunity")
    def get_opportunity(self, call: Call) -> Reply:
        return Reply(200, self._opportunity(call.path["id"]))

    @operation("updateOpportunity")
    def update_opportunity(self, call: Call) -> Reply:
        current = self._opportunity(call.path["id"])
        return Reply(200, self.save_opportunity(call.body or {}, self.acting_user(call.principal), current))

    @operation("deleteOpportunity")
    def delete_opportunity(self, call: Call) -> Reply:
        if not self.store.delete(self.collection("opportunities"), call.path["id"]):
            raise not_found("Opportunity")
        return Reply(200, {})

    @operation("listOpportunities")
    def list_opportunities(self, call: Call) -> Reply:
        q = call.query
        where = _filters(q, ("lead_id", "user_id", "status_id", "status_type", "status_label", "value_period"),
                         ("date_created", "date_updated", "date_won"))
        order = []
        if q.get("_order_by"):
            name = q["_order_by"]
            order = [(name.lstrip("-"), name.startswith("-"))]
        skip, limit = q.get("_skip", 0), q.get("_limit", 100)
        page = Query(where, order, skip, limit)
        if q.get("_fields"):
            wanted = q["_fields"].split(",")
            rows, total = self.store.query(self.collection("opportunities"), page)
            rows = [{k: r[k] for k in wanted if k in r} for r in rows]
        else:
            rows, total = self.store.page(self.collection("opportunities"), page)
        return Reply(200, {"data": rows, "has_more": skip + len(rows) < total, "total_results": total})

    # -- status changes ----------------------------------------------------------------------------
    def _activity(self, key: str) -> dict:
        record = self.store.get(self.collection("activities"), key)
        if record is None:
            raise not_found("Activity")
        return record

    @operation("listOpportunityStatusChanges")
    def list_status_changes(self, call: Call) -> Reply:
        q = call.query
        where = _filters(q, ("lead_id", "opportunity_id", "user_id", "contact_id"), ("date_created",))
        if q.get("id__in"):
            where.append(("id", "in", q["id__in"].split(",")))
        skip, limit = q.get("_skip", 0), q.get("_limit", 100)
        rows, total = self.store.page(
            self.collection("activities"), Query(where, [("date_created", True)], skip, limit))
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
        if not self.store.delete(self.collection("activities"), call.path["id"]):
            raise not_found("Activity")
        return Reply(200, {})

    @operation("listOpportunityStatuses")
    def list_statuses(self, call: Call) -> Reply:
        return Reply(200, {"data": self.statuses(), "has_more": False})


def _filters(query: dict, exact: tuple[str, ...], dated: tuple[str, ...]) -> list[tuple]:
    """Close's filter parameters → store conditions (`x`, `x__in`, `date__gt`, ...)."""
    where = []
    for name in exact:
        if name in query:
            where.append((name, "eq", query[name]))
        if f"{name}__in" in query:
            where.append((name, "in", query[f"{name}__in"].split(",")))
    for name in dated:
        for op in FILTER_OPERATORS:
            value = query.get(f"{name}__{op}")
            if value is None:
                continue
            if name == "date_won":  # a date field: compare dates
                value = value[:10]
            elif "T" in value:  # compare in Close's own UTC format, so string order is time order
                value = close_datetime(parse_utc(value, f"{name}__{op}"))
            where.append((name, op, value))
    return where
