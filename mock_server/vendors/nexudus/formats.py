"""How Nexudus writes values: `2025-01-15T10:30:00Z` timestamps and large integer Id sequences."""
from __future__ import annotations

from datetime import datetime

from mock_server.timefmt import iso_utc, parse_utc
from mock_server.vendors.base import Vendor

# Start of each Id sequence: Nexudus Ids are large integers (the seed's history Id is 87654321).
# Where the spec's examples point (board 12, columns 300-302, user 5521, opportunity 1204567), so
# a request copied from the docs resolves against the seeded world.
ID_STARTS = {"crmboards": 12, "crmboardcolumns": 300, "users": 5521, "coworkers": 1040,
             "crmopportunities": 1204567, "crmopportunityhistories": 87654321}


def nexudus_datetime(moment: datetime) -> str:
    """Nexudus writes `2025-01-15T10:30:00Z`: UTC, whole seconds."""
    return iso_utc(moment, "seconds") + "Z"


def normalized(text: str | None, field: str) -> str | None:
    """Stored times are in one format, so string order is time order for sorting and ranges."""
    return None if text is None else nexudus_datetime(parse_utc(text, field))


def next_id(vendor: Vendor, kind: str) -> int:
    """The next Id of a collection's sequence, from its `ID_STARTS` start."""
    return vendor.ids.integer(vendor.collection(kind), ID_STARTS[kind])
