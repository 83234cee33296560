"""SprintHub's real API, as the contract harness (and a future forward stage) talks to it."""
from __future__ import annotations

from mock_server.live.profile import LiveProfile, need


def credentials(env):
    token, apitoken, instance = need("sprinthub", env, "SPRINTHUB_TOKEN", "SPRINTHUB_APITOKEN", "SPRINTHUB_INSTANCE")
    return {"BearerAuth": token, "ApiToken": apitoken}, {"query.i": instance}


def throttled(status, headers, content) -> bool:
    """Reportedly a 401 whose `msg` mentions too many requests (VENDOR-NOTES, uncertain)."""
    return status == 401 and b"too many requests" in content.lower()


LIVE = LiveProfile(rate="1/s", credentials=credentials, throttled=throttled)  # SprintHub publishes no limits
