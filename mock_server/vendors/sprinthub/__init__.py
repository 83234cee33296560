"""SprintHub (sprinthub-api-master.sprinthub.app): CRM opportunities in a funnel, with their lead.

The vendor class; its value formats, error envelopes, seeded world and opportunities live beside it.
"""
from __future__ import annotations

from mock_server.identity import Principal
from mock_server.problems import MockError
from mock_server.vendors.base import Reply, Vendor
from mock_server.vendors.sprinthub import errors
from mock_server.vendors.sprinthub.formats import FIRST_ID
from mock_server.vendors.sprinthub.live import LIVE
from mock_server.vendors.sprinthub.opportunities import Opportunities, public
from mock_server.vendors.sprinthub.world import SEEDED_INSTANCE, SeededWorld


class SprintHub(SeededWorld, Opportunities, Vendor):
    name = "sprinthub"
    LIVE = LIVE
    FIXTURES = {
        "opportunity": ("opportunities", "Opportunity"),
        "lead": ("leads", "Lead"),
        "company": ("companies", "Company"),
    }
    STATIC_COLLECTIONS = frozenset({"users", "funnels", "leads", "companies"})

    LOAD_REFERENCES = {"opportunity": (("lead_id", "leads"),)}

    def fixture_record(self, resource: str, record: dict) -> dict:
        return public(record) if resource == "opportunity" else record

    def stored_from_fixture(self, resource, record):
        """A loaded opportunity joins the funnel that has its column, in the seeded instance."""
        if resource != "opportunity":
            return super().stored_from_fixture(resource, record)
        funnels = self.static("funnels").values()
        funnel = next((f for f in funnels if any(c["id"] == record.get("crm_column") for c in f["columns"])),
                      next(iter(funnels)))
        return [("opportunities", record["id"], {**record, "funnel_id": funnel["id"], "instance": SEEDED_INSTANCE})]

    def id_counter(self, kind, key):
        return f"id:{kind}", FIRST_ID.get(kind, 1)

    def _next_id(self, kind: str) -> int:
        return self.ids.integer(kind, start=FIRST_ID[kind])

    # -- callers -----------------------------------------------------------------------------------
    def default_principal(self, credentials: dict) -> Principal:
        return Principal(user=self.first("users"), credentials=credentials)

    def acting_user_id(self, principal: Principal) -> int:
        """The caller's user ID (a keys-file user without a usable integer id acts as the first user)."""
        user_id = principal.user.get("id")
        if isinstance(user_id, int) and not isinstance(user_id, bool) and user_id > 0:
            return user_id
        return self.first("users")["id"]

    # -- errors ------------------------------------------------------------------------------------
    def error_reply(self, error: MockError, op) -> Reply:
        return errors.error_reply(error, op)
