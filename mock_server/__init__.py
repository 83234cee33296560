"""crm-mock: an offline, stateful, spec-driven stand-in for CRM vendor APIs.

The public API is what `__all__` lists; every other module is internal and may change between
releases. `contracts/` and `tests/` import from here, except where a test checks an internal part
on purpose (it says so).
"""
from typing import TYPE_CHECKING

from mock_server.fixtures import generate as generate_fixtures
from mock_server.identity import Keys, Principal
from mock_server.pipeline import (
    DEFAULT_REQUEST_STAGES,
    DEFAULT_RESPONSE_STAGES,
    Call,
    Exchange,
    Reply,
    Stage,
    insert_stage,
)
from mock_server.problems import MockError, Problem
from mock_server.rates import Rate, parse_rate
from mock_server.serve.app import create_app
from mock_server.serve.state import MockState, state_of
from mock_server.settings import Settings
from mock_server.spec import Operation, Spec, load_spec
from mock_server.store import Store, open_store
from mock_server.vendors import VENDOR_CLASSES, VENDORS, Vendor

__all__ = [
    "DEFAULT_REQUEST_STAGES", "DEFAULT_RESPONSE_STAGES", "VENDORS", "VENDOR_CLASSES",
    "Call", "Client", "ControlError", "Exchange", "Keys", "MockError", "MockState", "Operation", "Principal", "Problem",
    "Rate", "Reply", "Settings", "Spec", "Stage", "Store", "Vendor", "VerificationError",
    "create_app", "generate_fixtures", "insert_stage", "load_spec", "open_store", "parse_rate", "state_of",
]

if TYPE_CHECKING:
    from mock_server.client import Client, ControlError, VerificationError

# The client is imported on first use: it brings `requests` (and ssl), which must not be imported
# before gunicorn's gevent workers patch the standard library in `crm-mock serve`.
_LAZY = {"Client", "ControlError", "VerificationError"}


def __getattr__(name: str):
    if name in _LAZY:
        from mock_server import client

        return getattr(client, name)
    raise AttributeError(f"module 'mock_server' has no attribute {name!r}")
