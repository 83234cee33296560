"""Placeholder: being written."""
from mock_server.vendors.base import Vendor


class SprintHub(Vendor):
    name = "sprinthub"
