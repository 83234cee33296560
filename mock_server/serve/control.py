"""/__mock/ endpoints: health, reset, the request journal and a look at the store."""
from __future__ import annotations

import hmac
import json
import time
from pathlib import Path

from flask import Blueprint, Response, current_app, g, jsonify, request

from mock_server.redaction import Redactor
from mock_server.serve.snapshots import NAME as SNAPSHOT_NAME
from mock_server.serve.snapshots import BadSnapshot, from_document, to_document
from mock_server.serve.snapshots import check as check_snapshot
from mock_server.serve.state import MockState, state_of
from mock_server.steering.matching import BadMatch, parse_match
from mock_server.steering.verify import select, verify
from mock_server.store.namespaced import CURRENT, DEFAULT, HEADER, BadNamespace, check_name
from mock_server.world_files import BadWorld, check, read, write

control_blueprint = Blueprint("crm_mock_control", __name__, url_prefix="/__mock")
# A world is built outside every lock and loaded in bulk (serve/namespaces.py): 100,000
# opportunities take seconds (bench/growth.py); the bound keeps one request from asking for hours.
MAX_SEED_DATA = 100_000
MAX_WORLD_BYTES = 512 * 1024 * 1024  # a snapshot file restored at once (100,000 opportunities: ~250 MB)
ADMIN_HEADER = "X-Crm-Mock-Admin-Key"


def _state() -> MockState:
    return state_of(current_app)


@control_blueprint.before_request
def require_admin_key():
    """With --keys or --admin-key, only the admin may read the journal or records, or reset;
    health stays open so load balancers and start-up scripts can probe it."""
    settings = _state().settings
    if not settings.admin_required or request.endpoint in ("crm_mock_control.health", "crm_mock_control.page"):
        return None
    offered = request.headers.get(ADMIN_HEADER, "")
    if settings.admin_key and hmac.compare_digest(offered.encode(), settings.admin_key.encode()):
        return None
    why = "missing or wrong" if settings.admin_key else "required, and none was configured (--admin-key)"
    return jsonify(error=f"The {ADMIN_HEADER} header is {why}."), 401


@control_blueprint.before_request
def require_journal():
    """With --journal-size 0 nothing is recorded, so a verify would hold or fail without looking at a
    single request and a query would answer "none": refused, as WireMock refuses with its journal off."""
    if request.endpoint in JOURNAL_READERS and not _state().settings.journal_size:
        return jsonify(error="the request journal is off (--journal-size 0): nothing is recorded, so nothing "
                             "can be verified or looked up; start the mock with --journal-size N"), 400
    return None


@control_blueprint.before_request
def select_namespace():
    """`?namespace=NAME` (or the X-Crm-Mock-Namespace header) points every endpoint at that namespace:
    its journal, overrides, records, reset. A namespace is seeded on first use, from either side;
    only looking at one does not make it (a misspelt name would pass a verify of `count: 0`)."""
    name = request.args.get("namespace", request.headers.get(HEADER))
    if name is None or request.endpoint in OUTSIDE_NAMESPACES:
        return None
    try:
        check_name(name)
    except BadNamespace as error:
        return jsonify(error=f"namespace: {error}"), 400
    if request.endpoint in READ_ONLY and not _state().namespaces.exists(name):
        return jsonify(error=f"no namespace {name!r}: nothing has used it yet (its first request, or "
                             f"POST /__mock/reset?namespace={name}, makes it); GET /__mock/namespaces lists them"), 404
    g.namespace_token = CURRENT.set(name)
    if request.endpoint != "crm_mock_control.reset":  # a reset seeds it anyway
        _state().namespaces.enter(name)
    return None


@control_blueprint.teardown_request
def leave_namespace(_error=None):
    token = g.pop("namespace_token", None)
    if token is not None:
        CURRENT.reset(token)


OUTSIDE_NAMESPACES = {"crm_mock_control.health", "crm_mock_control.page", "crm_mock_control.namespaces",
                      "crm_mock_control.drop_namespace"}
JOURNAL_READERS = {"crm_mock_control.requests_journal", "crm_mock_control.requests_find",
                   "crm_mock_control.verify_requests"}
# Endpoints that change nothing (deleting a snapshot of a namespace that is not there changes nothing)
READ_ONLY = JOURNAL_READERS | {"crm_mock_control.list_overrides", "crm_mock_control.snapshot",
                               "crm_mock_control.snapshots", "crm_mock_control.delete_snapshot",
                               "crm_mock_control.records_overview", "crm_mock_control.records"}
PAGE = Path(__file__).with_name("page.html")


@control_blueprint.get("/")
def page():
    """A page to look at in a browser: the live journal, overrides with hits, records. It holds no
    data itself; its requests carry the admin key given as ?key=."""
    return Response(PAGE.read_bytes(), mimetype="text/html")


@control_blueprint.get("/health")
def health():
    state = _state()
    return jsonify(status="ok", vendors=state.base_urls, seed=state.settings.seed, seed_data=state.settings.seed_data)


@control_blueprint.post("/reset")
def reset():
    """Empty the store and return to the seeded world (`--seed`, `--seed-data`);
    `?seed_data=N` seeds N opportunities instead (0: only the base world — statuses, users, board)."""
    count, to = request.args.get("seed_data"), request.args.get("to")
    if count is not None and to is not None:
        return jsonify(error="reset takes ?seed_data=N (a new seeded world) or ?to=NAME (a snapshot), not both"), 400
    seed_data = None if count is None else _whole_number(count)
    if count is not None and (seed_data is None or seed_data > MAX_SEED_DATA):
        return jsonify(error=f"seed_data must be a whole number from 0 to {MAX_SEED_DATA}"), 400
    state = _state()
    if to is not None:
        if not SNAPSHOT_NAME.fullmatch(to):
            return jsonify(error=f"to: {to[:80]!r} is not a snapshot name"), 400
        if not state.reset_to(to):
            return jsonify(error=f"no snapshot {to!r} in namespace {CURRENT.get()!r}; "
                                 f"PUT /__mock/snapshots/{to} saves the world as it is"), 404
        return jsonify(status="reset", to=to, records=state.store.collections())
    state.reset(seed_data)
    return jsonify(status="reset", records=state.store.collections())


def _whole_number(text: str) -> int | None:
    """`text` as a whole number from 0, else None. ASCII digits only: "²".isdigit() is true, but
    int("²") raises."""
    return int(text) if text.isascii() and text.isdigit() else None


@control_blueprint.get("/snapshot")
def snapshot():
    """The current namespace's whole world as one JSON file (POST it to /__mock/restore)."""
    namespace = CURRENT.get()
    body = to_document(_state().store.dump(""), namespace)
    return Response(body, mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="crm-mock-{namespace}.json"'})


@control_blueprint.post("/restore")
def restore():
    """Put a snapshot file back, atomically: every record and counter, or nothing (a 400 naming
    what is wrong, and the world as it was)."""
    request.max_content_length = MAX_WORLD_BYTES  # a world is larger than any vendor request
    state = _state()
    try:
        world = from_document(request.get_data(), CURRENT.get())
        check_snapshot(world, CURRENT.get(), state.vendors, state.specs)
    except BadSnapshot as error:
        return jsonify(error=f"snapshot: {error}"), 400
    state.restore(world)
    return jsonify(status="restored", records=state.store.collections())


@control_blueprint.post("/load")
def load():
    """A world file's records added to the current namespace's world, all or none: a 400 naming the
    record and field, and nothing written. `?vendor=` says whose records they are when more than
    one vendor is served and the resources do not tell. Until the next reset: `--load` keeps a file
    in every seeded world."""
    request.max_content_length = MAX_WORLD_BYTES
    state = _state()
    vendor = request.args.get("vendor")
    if vendor is not None and vendor not in state.vendors:
        return jsonify(error=f"vendor: {vendor[:40]!r} is not served here; one of {', '.join(state.vendors)}"), 400
    try:
        items = read(f"{vendor}:request body" if vendor else "request body", list(state.vendors),
                     data=request.get_data())
        with state.store.transaction():  # checked under the lock too: no one adds a clashing ID meanwhile
            write(check(items, state.vendors))
    except BadWorld as error:
        return jsonify(error=str(error)), 400
    return jsonify(status="loaded", loaded=len(items), records=state.store.collections())


@control_blueprint.get("/snapshots")
def snapshots():
    return jsonify(snapshots=_state().namespaces.snapshots.listed(CURRENT.get()))


@control_blueprint.put("/snapshots/<name>")
def save_snapshot(name: str):
    """The current namespace's world as it is now, kept in the store as `name` (reset ?to=NAME)."""
    if not SNAPSHOT_NAME.fullmatch(name):
        return jsonify(error=f"{name[:80]!r} is not a snapshot name: 1 to 64 letters, digits, '.', '_' or '-'"), 400
    return jsonify(_state().namespaces.snapshots.save(CURRENT.get(), name, time.time()))


@control_blueprint.delete("/snapshots/<name>")
def delete_snapshot(name: str):
    if not _state().namespaces.snapshots.delete(CURRENT.get(), name):
        return jsonify(error=f"no snapshot {name[:80]!r} in namespace {CURRENT.get()!r}"), 404
    return jsonify(deleted=name)


@control_blueprint.get("/namespaces")
def namespaces():
    """Every namespace with its size, creation, last use and expiry (`--namespace-ttl`)."""
    state = _state()
    return jsonify(namespaces=state.namespaces.listed(), ttl=state.settings.namespace_ttl)


@control_blueprint.delete("/namespaces/<name>")
def drop_namespace(name: str):
    """Drop a namespace now (a CI job cleaning up after itself); the default one can only be reset."""
    state = _state()
    try:
        check_name(name)
    except BadNamespace as error:
        return jsonify(error=f"namespace: {error}"), 400
    if name == DEFAULT:
        return jsonify(error="the default namespace cannot be dropped; POST /__mock/reset empties it"), 400
    if not state.namespaces.drop(name):
        return jsonify(error=f"no namespace {name!r}"), 404
    return jsonify(dropped=name)


JOURNAL_FILTERS = ("vendor", "operation", "method", "path", "status", "since", "limit")
QUERY_FIELDS = ("match", "status", "since", "limit")


@control_blueprint.get("/requests")
def requests_journal():
    """The journal, oldest first; filter with vendor, operation, method, path, status, since, limit."""
    state = _state()
    args = request.args
    unknown = sorted(set(args) - {*JOURNAL_FILTERS, "namespace"})
    if unknown:  # a misspelt filter would otherwise filter nothing and answer the whole journal
        return jsonify(error=f"{unknown[0][:40]}: unknown filter; the filters are {', '.join(JOURNAL_FILTERS)} "
                             "(POST /__mock/requests/find takes a full match)"), 400
    numbers = {}
    for name in ("status", "limit"):
        number = None if name not in args else _whole_number(args[name])
        if name in args and number is None:
            return jsonify(error=f"{name}: a whole number, not {args[name][:40]!r}"), 400
        numbers[name] = number
    simple = {k: args[k] for k in ("vendor", "operation", "method", "path") if k in args}
    return _found(state, {"match": simple, "since": args.get("since"), **numbers})


@control_blueprint.post("/requests/find")
def requests_find():
    """The journal entries matching a JSON `match` (body, query, headers subsets too)."""
    try:
        query = _json_body()
    except BadMatch as error:
        return jsonify(error=str(error)), 400
    if not isinstance(query, dict):
        return jsonify(error=f"a JSON object with some of {', '.join(QUERY_FIELDS)} "
                             "(GET /__mock/requests lists the whole journal)"), 400
    unknown = sorted(set(query) - set(QUERY_FIELDS))
    if unknown:
        return jsonify(error=f"{unknown[0][:40]}: unknown field; a journal query takes {', '.join(QUERY_FIELDS)}"), 400
    return _found(_state(), query)


def _found(state: MockState, query: dict):
    limit = query.get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        return jsonify(error="limit: a whole number from 1"), 400
    try:
        match = parse_match(query.get("match"), state.specs)
        entries = select(state.journal, match, query.get("status"), query.get("since"))
    except BadMatch as error:
        return jsonify(error=str(error)), 400
    return jsonify(requests=entries[-limit:] if limit else entries)


@control_blueprint.post("/verify")
def verify_requests():
    """200 when the journal holds as many matching requests as asked, else 409 with near misses."""
    state = _state()
    try:
        holds, answer = verify(state.journal, _json_body(), state.specs)
    except BadMatch as error:
        return jsonify(error=str(error)), 400
    return jsonify(answer), 200 if holds else 409


def _json_body():
    """The body as JSON whatever its Content-Type (None when empty): curl's `-d` labels JSON as a
    form, and WireMock's admin API, whose users this mirrors, reads it as JSON all the same. Not
    JSON is a BadMatch, never "no body": a query that cannot be read must not answer everything."""
    data = request.get_data(cache=True)
    if not data.strip():
        return None
    try:
        return json.loads(data, parse_constant=_not_a_number)
    except (ValueError, RecursionError) as error:
        raise BadMatch(f"the body is not JSON: {str(error)[:200]}") from None


def _not_a_number(name: str):
    raise ValueError(f"{name} is not a JSON number")


# -- overrides -------------------------------------------------------------------------------------------
@control_blueprint.post("/overrides")
def add_override():
    state = _state()
    try:
        record = state.overrides.add(_json_body())
    except BadMatch as error:
        return jsonify(error=str(error)), 400
    return jsonify(_shown(record)), 201


@control_blueprint.get("/overrides")
def list_overrides():
    return jsonify(overrides=[_shown(r) for r in _state().overrides.listed()])


@control_blueprint.delete("/overrides/<override_id>")
def delete_override(override_id: str):
    if not _state().overrides.remove(override_id):
        return jsonify(error=f"no override {override_id!r}"), 404
    return jsonify(deleted=1)


@control_blueprint.delete("/overrides")
def delete_overrides():
    return jsonify(deleted=_state().overrides.remove())


def _shown(record: dict) -> dict:
    """An override as listed: what it matches on may be a secret (a credential, an Authorization
    header, an api_key in the query), so those are masked as in the journal."""
    match = dict(record.get("match") or {})
    if match.pop("credential_sha256", None) or match.get("credential"):  # a digest too: listed as before
        match["credential"] = "***"
    if isinstance(match.get("headers"), dict):
        match["headers"] = LISTING_REDACTOR.headers(match["headers"])
    if isinstance(match.get("query"), dict):
        match["query"] = {k: "***" if LISTING_REDACTOR.sensitive(k) else v for k, v in match["query"].items()}
    if isinstance(match.get("body"), dict):
        match["body"] = LISTING_REDACTOR.body(match["body"])
    return {**record, "match": match}


LISTING_REDACTOR = Redactor()


@control_blueprint.get("/records")
def records_overview():
    """Vendor collections and their sizes (the mock's own bookkeeping, `__mock.*`, is not listed)."""
    return jsonify(collections={k: v for k, v in _state().store.collections().items() if not k.startswith("__")})


@control_blueprint.get("/records/<collection>")
def records(collection: str):
    """Everything in one collection, e.g. /__mock/records/sprinthub.opportunities — handy where the
    vendor itself has no read endpoint (SprintHub)."""
    if collection.startswith("__"):  # the mock's own bookkeeping (overrides): see /__mock/overrides
        return jsonify(error=f"no collection {collection!r}"), 404
    return jsonify(records=_state().store.all(collection))
