"""Nexudus (spaces.nexudus.com/api): CRM opportunity stage history, board columns, bearer tokens.

Everything Nexudus-specific lives in this package: the `ActionResult` envelope (history), the validation
envelope with "PropertyName: message" summaries (errors), paged list envelopes (lists), large integer Ids
and `2025-01-15T10:30:00Z` timestamps (formats), the seeded world (world), and the OAuth2 token
endpoint whose errors use RFC 6749 bodies (tokens).
"""
from __future__ import annotations

from mock_server.identity import Principal
from mock_server.problems import MockError
from mock_server.vendors.base import Reply, Vendor
from mock_server.vendors.nexudus import errors, world
from mock_server.vendors.nexudus.board import BoardColumns
from mock_server.vendors.nexudus.formats import ID_STARTS
from mock_server.vendors.nexudus.history import OpportunityHistory
from mock_server.vendors.nexudus.live import LIVE
from mock_server.vendors.nexudus.opportunities import Opportunities
from mock_server.vendors.nexudus.tokens import TokenEndpoint


class Nexudus(TokenEndpoint, OpportunityHistory, Opportunities, BoardColumns, Vendor):
    """The handlers come from the parts it inherits: tokens (issueToken, and `lookup_principal` for
    the tokens it issued), history (CrmOpportunityHistory), opportunities (CrmOpportunity, kept in
    the stage of their latest history entry) and board (listCrmBoardColumns)."""

    name = "nexudus"
    LIVE = LIVE
    FIXTURES = {
        "crmopportunityhistory": ("crmopportunityhistories", "CrmOpportunityHistory"),
        "crmboardcolumn": ("crmboardcolumns", "CrmBoardColumn"),
        "crmopportunity": ("crmopportunities", "CrmOpportunity"),
    }
    STATIC_COLLECTIONS = frozenset({"users", "crmboardcolumns", "coworkers"})
    LOAD_REFERENCES = {
        "crmopportunityhistory": (("CrmOpportunityId", "crmopportunities"), ("NewCrmBoardColumnId", "crmboardcolumns"),
                                  ("OldCrmBoardColumnId", "crmboardcolumns"), ("UserId", "users")),
        "crmopportunity": (("CrmBoardColumnId", "crmboardcolumns"), ("CoworkerId", "coworkers")),
        "crmboardcolumn": (("CrmBoardId", "crmboards"),),
    }

    def id_counter(self, kind, key):
        return f"id:{self.collection(kind)}", ID_STARTS.get(kind, 1)

    def seed_world(self, count: int) -> None:
        world.seed(self, count)

    def default_principal(self, credentials: dict) -> Principal:
        """Zero config: the first seeded admin, a full unrestricted administrator (every role)."""
        first = self.first("users")  # seeded first: the lowest Id
        return Principal(user=first, roles=None, credentials=credentials)

    def error_reply(self, error: MockError, op) -> Reply:
        return errors.error_reply(error, op)
