"""Talking to a vendor's real API: credentials from the environment, pacing and back-off, masking.

Shared by the contract harness (`contracts/`) and, later, a record/forward stage; vendor-specific
facts come from each vendor's `live.py` (`LiveProfile`).
"""
from mock_server.live.credentials import auth_headers, from_env, mask, secret_forms
from mock_server.live.profile import LiveProfile, MissingCredentials, SideEffect, need
from mock_server.live.throttle import Throttle, header, ratelimit_reset, throttle_wait

__all__ = [
    "LiveProfile", "MissingCredentials", "SideEffect", "Throttle", "auth_headers", "from_env", "header", "mask", "need",
    "ratelimit_reset", "secret_forms", "throttle_wait",
]
