"""A small Close server that drifted from the spec on purpose, to prove the harness catches drift.

It serves three Close operations at /api/v1, each answering like Close would but for one drift:

| drift                                   | operation               | check that must report it   |
|-----------------------------------------|-------------------------|-----------------------------|
| `value_period` renamed to `period`      | GET /opportunity/{id}/  | response_schema_conformance |
| `has_more` dropped from the list        | GET /opportunity/       | response_schema_conformance |
| 500 when `note` is longer than 20 chars | POST /opportunity/      | not_a_server_error          |
| errors answered as `text/html`          | GET /opportunity/ (400) | content_type_conformance    |

Everything else is well-behaved (auth, the record itself), so a failure points at a drift.

`create_forgetful_close()` is the real Close mock with one stateful drift: reading an opportunity
back (`GET /opportunity/{id}/`) answers another `value_period`, which only a create → get sequence
(`--stateful`, following the spec's links) can notice, with `read_after_write`.
"""
from __future__ import annotations

import base64
import copy
import json
import re

from flask import Flask, Response, jsonify, request
from werkzeug.wrappers import Request

from mock_server import create_app, load_spec

API_KEY = "drift-key"  # Close Basic auth: the API key as username, empty password
CREDENTIALS = {"ApiKeyAuth": f"{API_KEY}:"}
OPERATIONS = ("listOpportunities", "getOpportunity", "createOpportunity")
DRIFTS = {  # (operation label, check name) the harness must report
    "renamed field": ("GET /opportunity/{id}/", "response_schema_conformance"),
    "dropped has_more": ("GET /opportunity/", "response_schema_conformance"),
    "500 on a long string": ("POST /opportunity/", "not_a_server_error"),
    "text/html errors": ("GET /opportunity/", "content_type_conformance"),
}
LONG_NOTE = 20
NEXT_PERIOD = {"one_time": "monthly", "monthly": "annual", "annual": "one_time"}


def create_drifted_app() -> Flask:
    record = copy.deepcopy(load_spec("close").document["components"]["schemas"]["Opportunity"]["example"])
    app = Flask("drifted_close")
    expected_auth = "Basic " + base64.b64encode(f"{API_KEY}:".encode()).decode()

    def html_error(status: int, text: str) -> Response:
        return Response(f"<html><body><h1>{text}</h1></body></html>", status, mimetype="text/html")

    @app.before_request
    def authenticate():
        if request.headers.get("Authorization") != expected_auth:
            return jsonify(error="The server could not verify that you are authorized."), 401
        return None

    @app.get("/api/v1/opportunity/")
    def list_opportunities():
        for name, low, high in (("_limit", 1, 100), ("_skip", 0, None)):
            raw = request.args.get(name)
            if raw is None:
                continue
            if not raw.isdigit() or int(raw) < low or (high is not None and int(raw) > high):
                return html_error(400, f"Bad {name}")  # drift: an HTML error page
        return jsonify(data=[record], total_results=1)  # drift: no has_more

    @app.get("/api/v1/opportunity/<opportunity_id>/")
    def get_opportunity(opportunity_id):
        drifted = {k: v for k, v in record.items() if k != "value_period"}
        drifted["period"] = record["value_period"]  # drift: a renamed field
        return jsonify(drifted)

    @app.post("/api/v1/opportunity/")
    def create_opportunity():
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return html_error(400, "Expected a JSON object")
        note = body.get("note")
        if isinstance(note, str) and len(note) > LONG_NOTE:
            return jsonify(error="Internal Server Error"), 500  # drift: long strings crash it
        if any(body.get(ref) for ref in ("lead_id", "status_id", "user_id", "contact_id")):
            return html_error(400, "Object does not exist.")
        created = dict(record)
        for name, kind in (("note", str), ("value", int), ("confidence", int)):
            if isinstance(body.get(name), kind) and not isinstance(body.get(name), bool):
                created[name] = body[name]
        if body.get("value_period") in ("one_time", "monthly", "annual"):
            created["value_period"] = body["value_period"]
        return jsonify(created)

    return app


def create_forgetful_close(credentials: dict[str, str]):
    """The Close mock (accepting `credentials` only) behind a WSGI wrapper whose reads change
    the `value_period` that was written."""
    mock = create_app("close", keys={"close": [{"credentials": credentials}]})

    def app(environ, start_response):
        request = Request(environ)
        response = Response.from_app(mock, environ)
        if request.method == "GET" and re.fullmatch(r"/api/v1/opportunity/[^/]+/", request.path) \
                and response.status_code == 200:
            record = json.loads(response.get_data())
            record["value_period"] = NEXT_PERIOD[record["value_period"]]
            response.set_data(json.dumps(record))
        return response(environ, start_response)

    return app
