"""One module per vendor: its handlers, rules and body shapes. The engine knows none of them."""
from mock_server.vendors.close import Close
from mock_server.vendors.nexudus import Nexudus
from mock_server.vendors.sprinthub import SprintHub

VENDOR_CLASSES = {cls.name: cls for cls in (Close, Nexudus, SprintHub)}

__all__ = ["VENDOR_CLASSES", "Close", "Nexudus", "SprintHub"]
