"""/__mock/ endpoints: health, reset, the request journal and a look at the store."""
from __future__ import annotations

import hmac

from flask import Blueprint, current_app, jsonify, request

from mock_server.serve.state import MockState, state_of

control_blueprint = Blueprint("crm_mock_control", __name__, url_prefix="/__mock")
# A reset reseeds while holding the store: 10,000 opportunities take a few seconds (bench), and the
# worker answering the reset serves nothing else meanwhile.
MAX_SEED_DATA = 10_000
ADMIN_HEADER = "X-Crm-Mock-Admin-Key"


def _state() -> MockState:
    return state_of(current_app)


@control_blueprint.before_request
def require_admin_key():
    """With --keys or --admin-key, only the admin may read the journal or records, or reset;
    health stays open so load balancers and start-up scripts can probe it."""
    settings = _state().settings
    if not settings.admin_required or request.endpoint == "crm_mock_control.health":
        return None
    offered = request.headers.get(ADMIN_HEADER, "")
    if settings.admin_key and hmac.compare_digest(offered.encode(), settings.admin_key.encode()):
        return None
    why = "missing or wrong" if settings.admin_key else "required, and none was configured (--admin-key)"
    return jsonify(error=f"The {ADMIN_HEADER} header is {why}."), 401


@control_blueprint.get("/health")
def health():
    state = _state()
    return jsonify(status="ok", vendors=state.base_urls, seed=state.settings.seed, seed_data=state.settings.seed_data)


@control_blueprint.post("/reset")
def reset():
    """Empty the store and return to the seeded world (`--seed`, `--seed-data`);
    `?seed_data=N` seeds N opportunities instead (0: only the base world — statuses, users, board)."""
    count = request.args.get("seed_data")
    if count is not None and (not count.isdigit() or int(count) > MAX_SEED_DATA):
        return jsonify(error=f"seed_data must be a whole number from 0 to {MAX_SEED_DATA}"), 400
    state = _state()
    state.reset(None if count is None else int(count))
    return jsonify(status="reset", records=state.store.collections())


@control_blueprint.get("/requests")
def requests_journal():
    limit = request.args.get("limit", type=int)
    return jsonify(requests=_state().journal.entries(limit))


@control_blueprint.get("/records")
def records_overview():
    return jsonify(collections=_state().store.collections())


@control_blueprint.get("/records/<collection>")
def records(collection: str):
    """Everything in one collection, e.g. /__mock/records/sprinthub.opportunities — handy where the
    vendor itself has no read endpoint (SprintHub)."""
    return jsonify(records=_state().store.all(collection))
