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
    }
    STATIC_COLLECTIONS = frozenset({"organization", "pipelines", "statuses", "users"})

    def error_reply(self, error: MockError, op) -> Reply:
        return errors.error_reply(error)
