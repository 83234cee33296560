"""Placeholder: being written."""
from mock_server.vendors.base import Vendor


class Nexudus(Vendor):
    name = "nexudus"
