"""Close (api.close.com/api/v1): opportunities, status-change activities, statuses.

Everything Close-specific lives in this package, one job per module: `formats` (dates, money,
derived value fields), `errors` (error bodies), `filters` (list query parameters), `world` (the
seeded organization and its users), `opportunities`, `status_changes` and `leads` (the rules and
handlers), `live` (how the real API is reached).
"""
from __future__ import annotations

from mock_server.problems import MockError
from mock_server.vendors.base import Reply, Vendor
from mock_server.vendors.close import errors
from mock_server.vendors.close.leads import Leads
from mock_server.vendors.close.live import LIVE
from mock_server.vendors.close.opportunities import Opportunities
from mock_server.vendors.close.status_changes import StatusChanges
from mock_server.vendors.close.world import World


class Close(World, Opportunities, StatusChanges, Leads, Vendor):
    name = "close"
    LIVE = LIVE
    reject_unknown_query = True
    FIXTURES = {
        "opportunity": ("opportunities", "Opportunity"),
        "status_change": ("activities", "OpportunityStatusChange"),
        "status": ("statuses", "OpportunityStatus"),
        "lead": ("leads", "Lead"),
    }
    LOAD_OPEN_FIELDS = ("custom.",)  # custom fields: `custom.cf_...` keys beside the documented ones
    LOAD_REFERENCES = {
        # Not user_id: a world from another seed names its own users, which no file carries;
        # an opportunity whose user is unknown acts as its caller's when next updated.
        "opportunity": (("lead_id", "leads"), ("status_id", "statuses"), ("contact_id", "contacts")),
        "status_change": (("opportunity_id", "opportunities"), ("lead_id", "leads"), ("new_status_id", "statuses")),
        "status": (("pipeline_id", "pipelines"),),
    }

    def stored_from_fixture(self, resource, record):
        """A lead carries its contacts; opportunities refer to them by ID, so they are stored too."""
        rows = super().stored_from_fixture(resource, record)
        if resource == "lead":
            rows += [("contacts", contact["id"], contact) for contact in record.get("contacts") or []]
        return rows
    STATIC_COLLECTIONS = frozenset({"organization", "pipelines", "statuses", "users"})

    def error_reply(self, error: MockError, op) -> Reply:
        return errors.error_reply(error)
