"""Board columns: the read-only `listCrmBoardColumns` handler (the seeded world makes the columns)."""
from __future__ import annotations

from mock_server.vendors.base import Call, Reply, Vendor, operation
from mock_server.vendors.nexudus.lists import paged

COLUMN_FILTERS = {"CrmBoardColumn_CrmBoard": "CrmBoardId"}


class BoardColumns(Vendor):
    """The board columns' part of the Nexudus vendor."""

    @operation("listCrmBoardColumns")
    def list_columns(self, call: Call) -> Reply:
        return paged(self, "crmboardcolumns", call.query, COLUMN_FILTERS, {})
