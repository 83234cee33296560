"""The vendor registry: one package per vendor (handlers, error envelopes, seeded world, live
conventions). The pipeline knows none of them; this registry is the one list of what exists."""
from mock_server.vendors.base import Vendor
from mock_server.vendors.close import Close
from mock_server.vendors.nexudus import Nexudus
from mock_server.vendors.sprinthub import SprintHub

VENDOR_CLASSES: dict[str, type[Vendor]] = {cls.name: cls for cls in (Close, Nexudus, SprintHub)}
VENDORS: tuple[str, ...] = tuple(VENDOR_CLASSES)  # each has specs/<name>.yaml

__all__ = ["VENDORS", "VENDOR_CLASSES", "Close", "Nexudus", "SprintHub", "Vendor"]
