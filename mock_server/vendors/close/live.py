"""Close's real API, as the contract harness (and a future forward stage) talks to it."""
from __future__ import annotations

from mock_server.live.profile import LiveProfile, SideEffect, need


def credentials(env):
    (key,) = need("close", env, "CLOSE_API_KEY")
    return {"ApiKeyAuth": f"{key}:"}, {}  # the API key is Basic auth's username, empty password


# Close publishes limits per endpoint group only and answers 429 with RateLimit/Retry-After,
# which the back-off honours; 5/s stays under the smallest group.
LIVE = LiveProfile(rate="5/s", credentials=credentials, side_effects=(
    # Creating (or moving) an opportunity records an OpportunityStatusChange activity (Close API reference).
    SideEffect("createOpportunity", "status-change activities", delete="deleteOpportunityStatusChange",
               listing="listOpportunityStatusChanges", by="opportunity_id"),
    # An opportunity created without lead_id gets a new "Untitled" lead.
    SideEffect("createOpportunity", "leads created implicitly", delete="deleteLead",
               from_answer="lead_id", unless_sent="lead_id"),
))
