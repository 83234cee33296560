"""The app factory: settings → a Flask app serving each vendor's pipeline plus `/__mock/`.

Vendor traffic is dispatched by `VendorDispatch`, which wraps `app.wsgi_app` (Flask's middleware
seam) and hands each request to its vendor's `Pipeline`; only `/__mock/` reaches Flask's router.
Everything the control endpoints need is one typed `MockState` in `app.extensions["crm_mock"]`.
"""
from __future__ import annotations

import gc
import json
from collections.abc import Sequence
from dataclasses import replace

from flask import Flask, Response
from werkzeug import Request
from werkzeug.exceptions import HTTPException

from mock_server.pipeline import (
    DEFAULT_REQUEST_STAGES,
    DEFAULT_RESPONSE_STAGES,
    Mount,
    Pipeline,
    Stage,
)
from mock_server.pipeline.journal import Journal
from mock_server.serve.control import control_blueprint
from mock_server.serve.namespaces import Namespaces
from mock_server.serve.state import EXTENSION, MockState
from mock_server.serve.worlds import build_world, world_items
from mock_server.settings import Settings
from mock_server.spec import load_spec
from mock_server.steering.overrides import OverrideBook
from mock_server.store import open_store
from mock_server.store.base import SeededWorld
from mock_server.store.namespaced import ENVIRON_KEY, NamespacedStore
from mock_server.vendors import VENDOR_CLASSES, VENDORS
from mock_server.world_cache import WorldCache, cache_directory


def create_app(settings: Settings | str | None = None, /, *,
               request_stages: Sequence[type[Stage]] = DEFAULT_REQUEST_STAGES,
               response_stages: Sequence[type[Stage]] = DEFAULT_RESPONSE_STAGES, **options) -> Flask:
    """An app serving one vendor at the root (`vendor="close"`) or all behind /<vendor> prefixes.

    Pass a `Settings`, or its fields as keywords (`create_app(vendor="close", seed_data=5)`; the
    vendor may also come first: `create_app("close")`). `request_stages`/`response_stages` replace
    the pipeline's stage lists (see `insert_stage`).
    """
    settings = _settings(settings, options)
    state = _build_state(settings, request_stages, response_stages)
    if settings.reset_on_start or not state.store.collections():
        state.reset()
    app = Flask("crm_mock")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions[EXTENSION] = state
    app.register_blueprint(control_blueprint)
    app.register_error_handler(HTTPException, _control_error)
    app.wsgi_app = VendorDispatch(  # type: ignore[method-assign]  # Flask's documented middleware seam
app.wsgi_app, state.pipelines, settings.max_body_bytes)
    return app


def _settings(settings: Settings | str | None, options: dict) -> Settings:
    if isinstance(settings, str):  # create_app("close", ...)
        options = {"vendor": settings, **options}
        settings = None
    settings = replace(settings, **options) if settings is not None else Settings(**options)
    if settings.vendor != "all" and settings.vendor not in VENDOR_CLASSES:
        raise ValueError(f"unknown vendor {settings.vendor!r}; choose from {', '.join(VENDORS)} or all")
    return settings


def _build_state(settings: Settings, request_stages, response_stages) -> MockState:
    raw = open_store(settings.store) if isinstance(settings.store, str) else settings.store
    if isinstance(raw, NamespacedStore):
        raw = raw.inner
    store = NamespacedStore(raw)  # what everything but the namespace registry sees
    journal = Journal(store, settings.journal_size)
    names = list(VENDORS) if settings.vendor == "all" else [settings.vendor]
    settings.keys.check({n: load_spec(n).security_schemes for n in VENDORS})
    vendors = {n: VENDOR_CLASSES[n](load_spec(n), store, settings.seed, settings.keys.for_vendor(n),
                                    settings.reproducible_tokens) for n in names}
    overrides = OverrideBook(store, {n: v.spec for n, v in vendors.items()})

    items = world_items(settings)  # read once; checked against each world as it is built

    cache = WorldCache(cache_directory(settings.world_cache))

    def build(count: int | None) -> SeededWorld:
        return build_world(settings, count, items, cache)

    def loaded() -> None:
        for vendor in vendors.values():
            vendor.forget_static()  # static records (users, statuses) are read again from the new world
        # A loaded world lives until the next reset: the cyclic GC need not walk it again and again
        # (with 100,000 opportunities each full collection paused a request for 200 ms and more).
        gc.freeze()

    namespaces = Namespaces(raw, build, settings.namespace_ttl, loaded=loaded)
    pipelines = [
        Pipeline(Mount(v, f"/{n}" if settings.vendor == "all" else "", settings, journal, overrides, namespaces),
                 request_stages, response_stages)
        for n, v in vendors.items()
    ]
    return MockState(settings, store, journal, vendors, pipelines, overrides, namespaces)


def _control_error(error: HTTPException):
    # Only /__mock/ paths reach Flask's URL map; even their errors are JSON, never HTML.
    return Response(json.dumps({"error": error.description}), error.code, mimetype="application/json")


NAMESPACE_PREFIX = "/__ns/"


class VendorDispatch:
    """WSGI middleware around Flask: vendor traffic goes straight to its vendor's pipeline.

    Each vendor's route stage answers from its spec, including its own 404/405 bodies, so vendor
    requests skip Flask's URL map and request context (a measured share of the per-request
    cost). Only /__mock/ falls through to the Flask app.
    """

    def __init__(self, flask_wsgi, pipelines: list[Pipeline], max_body_bytes: int):
        self.flask_wsgi = flask_wsgi
        self.pipelines = pipelines
        self.max_body_bytes = max_body_bytes

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "") or "/"
        if path.startswith("/__mock"):
            return self.flask_wsgi(environ, start_response)
        if path.startswith(NAMESPACE_PREFIX):  # /__ns/job-123/api/v1/...: a base URL that selects a namespace
            name, _, rest = path[len(NAMESPACE_PREFIX):].partition("/")
            path = "/" + rest
            environ = {**environ, "PATH_INFO": path, ENVIRON_KEY: name,
                       "SCRIPT_NAME": environ.get("SCRIPT_NAME", "") + NAMESPACE_PREFIX + name}
        request = Request(environ, populate_request=False)  # no request<->environ cycle for the GC
        request.max_content_length = self.max_body_bytes
        for pipeline in self.pipelines:
            if pipeline.mount.owns(path):
                return pipeline.handle(request)(environ, start_response)
        if len(self.pipelines) == 1:  # a lone vendor answers every path in its own shape
            return self.pipelines[0].handle(request)(environ, start_response)
        body = json.dumps({
            "error": f"No vendor is mounted at {path}.",
            "vendors": {p.mount.vendor.name: p.mount.base + "/" for p in self.pipelines},
        })
        return Response(body, 404, mimetype="application/json")(environ, start_response)
