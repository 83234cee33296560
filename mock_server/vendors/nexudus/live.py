"""Nexudus' real API, as the contract harness (and a future forward stage) talks to it."""
from __future__ import annotations

from mock_server.live.profile import LiveProfile, MissingCredentials, need
from mock_server.live.throttle import header


def credentials(env):
    if env.get("NEXUDUS_TOKEN"):
        return {"OAuth2": env["NEXUDUS_TOKEN"]}, {}
    if not env.get("NEXUDUS_USERNAME") and not env.get("NEXUDUS_PASSWORD"):
        raise MissingCredentials("NEXUDUS_TOKEN is not set (nor NEXUDUS_USERNAME/NEXUDUS_PASSWORD): a live nexudus "
                                 "target reads its credentials from the environment, never the command line")
    username, password = need("nexudus", env, "NEXUDUS_USERNAME", "NEXUDUS_PASSWORD")
    return {"BasicAuth": f"{username}:{password}"}, {}


def throttled(status, headers, content) -> bool:
    """Nexudus throttles with 409 + Retry-After; a 409 without it is a real conflict."""
    return status == 409 and bool(header(headers, "Retry-After"))


# VENDOR-NOTES: 60 writes/min, 120 calls/min, 1 call per 100 ms.
LIVE = LiveProfile(rate="60/m", credentials=credentials, throttled=throttled)
