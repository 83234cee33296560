"""crm-mock: an offline, stateful, spec-driven stand-in for CRM vendor APIs."""
from mock_server.app import create_app

__all__ = ["create_app"]
