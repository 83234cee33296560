"""create_app(): load the specs, mount each vendor, add the /__mock/ control endpoints."""
from __future__ import annotations

import json
import os

from flask import Flask, Response
from werkzeug import Request
from werkzeug.exceptions import HTTPException

from mock_server.auth import load_keys
from mock_server.control import control_blueprint
from mock_server.engine import VendorMount
from mock_server.journal import Journal
from mock_server.spec import VENDORS, load_spec
from mock_server.store import Store, open_store
from mock_server.vendors import VENDOR_CLASSES

MAX_BODY_BYTES = 1024 * 1024  # larger bodies get the vendor's 413


def create_app(
    vendor: str = "all",
    store: str | Store = "memory",
    keys=None,
    seed: int = 0,
    seed_data: int = 0,
    strict: bool = False,
    journal_size: int = 1000,
    reset_on_start: bool = True,
    rate_limit: str | None = None,
) -> Flask:
    """An app serving one vendor at the root (`vendor="close"`) or all behind /<vendor> prefixes.

    `keys`: a keys-file path or dict (default: $CRM_MOCK_KEYS, else accept any well-formed credential).
    `reset_on_start=False` keeps what a shared SQLite store already holds (extra workers).
    `rate_limit` ("10/s", "60/m"): answer the vendor's throttling response past that many calls
    per credential (per worker process).
    """
    names = list(VENDORS) if vendor == "all" else [vendor]
    unknown = [n for n in names if n not in VENDOR_CLASSES]
    if unknown:
        raise ValueError(f"unknown vendor {unknown[0]!r}; choose from {', '.join(VENDORS)} or all")
    store = open_store(store) if isinstance(store, str) else store
    key_entries = load_keys(keys if keys is not None else os.environ.get("CRM_MOCK_KEYS"))
    journal = Journal(journal_size)

    app = Flask("crm_mock")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    vendors = {n: VENDOR_CLASSES[n](load_spec(n), store, seed) for n in names}
    for n, v in vendors.items():
        v.key_entries = key_entries.get(n, [])
    mounts = [
        VendorMount(v, f"/{n}" if vendor == "all" else "", key_entries.get(n, []), journal, strict, rate_limit)
        for n, v in vendors.items()
    ]

    def reset(count: int | None = None):
        """Back to the seeded world; `count` overrides --seed-data (0: statuses, users, ... only)."""
        store.clear()
        journal.clear()
        for v in vendors.values():
            v.seed_world(seed_data if count is None else count)

    if reset_on_start or not store.collections():
        reset()

    app.extensions["crm_mock"] = {
        "store": store, "journal": journal, "vendors": vendors, "mounts": mounts, "reset": reset,
        "seed": seed, "seed_data": seed_data,
    }
    app.register_blueprint(control_blueprint)

    @app.errorhandler(HTTPException)
    def control_error(error: HTTPException):
        # Only /__mock/ paths reach Flask's URL map; even their errors are JSON, never HTML.
        return Response(json.dumps({"error": error.description}), error.code, mimetype="application/json")

    app.wsgi_app = VendorDispatch(app.wsgi_app, mounts)
    return app


class VendorDispatch:
    """WSGI in front of Flask: vendor traffic goes straight to its mount's pipeline.

    Each vendor's router answers from its spec, including its own 404/405 bodies, so vendor
    requests skip Flask's URL map and request context (a measured share of the per-request
    cost). Only /__mock/ falls through to the Flask app.
    """

    def __init__(self, flask_wsgi, mounts: list[VendorMount]):
        self.flask_wsgi = flask_wsgi
        self.mounts = mounts

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "") or "/"
        if path.startswith("/__mock"):
            return self.flask_wsgi(environ, start_response)
        request = Request(environ, populate_request=False)  # no request<->environ cycle for the GC
        request.max_content_length = MAX_BODY_BYTES
        for mount in self.mounts:
            if mount.owns(path):
                return mount.handle(request)(environ, start_response)
        if len(self.mounts) == 1:  # a lone vendor answers every path in its own shape
            return self.mounts[0].handle(request)(environ, start_response)
        body = json.dumps({
            "error": f"No vendor is mounted at {path}.",
            "vendors": {m.vendor.name: m.base + "/" for m in self.mounts},
        })
        return Response(body, 404, mimetype="application/json")(environ, start_response)
