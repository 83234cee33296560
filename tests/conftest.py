"""Shared fixtures: every vendor test runs against every store (memory, SQLite, PostgreSQL)."""
from __future__ import annotations

import atexit
import base64
import contextlib
import os
import shutil
import tempfile
import threading

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from mock_server import create_app, load_spec

# Worlds the suite makes (and the servers it starts) are kept in a directory of its own, never in
# ~/.cache: no test depends on what an earlier run left there.
_WORLDS = tempfile.mkdtemp(prefix="crm-mock-test-worlds-")
os.environ["CRM_MOCK_WORLD_CACHE"] = _WORLDS
atexit.register(shutil.rmtree, _WORLDS, ignore_errors=True)


def basic(username: str, password: str = "") -> dict:
    raw = f"{username}:{password}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


ADMIN_KEY = "test-admin-key"
CLOSE_AUTH = basic("api_test_key")
NEXUDUS_AUTH = bearer("nexudus-test-token")
SPRINTHUB_AUTH = {**bearer("sprinthub-test-token"), "apitoken": "sprinthub-api-token"}


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_url")
    return "memory" if request.param == "memory" else f"sqlite:{tmp_path / 'mock.db'}"


@pytest.fixture
def make_client(store_url):
    """make_client("close", seed_data=5, keys={...}) → a Flask test client on a fresh store."""

    def make(vendor: str = "all", **options):
        options.setdefault("admin_key", ADMIN_KEY)
        client = create_app(vendor, store=store_url, **options).test_client()
        client.environ_base["HTTP_X_CRM_MOCK_ADMIN_KEY"] = options["admin_key"] or ""  # the tests act as admin
        return client

    return make


def assert_conforms(vendor: str, response, operation_id: str) -> dict:
    """The operation documents the response's status and the body fits that status's schema."""
    spec = load_spec(vendor)
    op = spec.by_id[operation_id]
    assert str(response.status_code) in op.statuses, f"{operation_id} answered undocumented {response.status_code}"
    body = response.get_json()
    schema = spec.response_schema(op, response.status_code)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in spec.validator(schema).iter_errors(body)]
    assert not errors, errors
    return body


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):  # one line per fuzzed request is noise in a test log
        pass


@contextlib.contextmanager
def served(app):
    """`app` on a real socket (127.0.0.1, a free port), for a real HTTP client."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def postgres_url(postgres_cluster) -> str:
    return postgres_cluster.url


@pytest.fixture(scope="session")
def postgres_cluster():
    """A throwaway PostgreSQL cluster for the session (store/local_cluster.py). Skips loudly where
    the binaries are missing."""
    from mock_server.store import local_cluster

    if not local_cluster.available():
        pytest.skip("LOUD SKIP: initdb/pg_ctl are not on PATH, so the PostgreSQL store is untested here")
    with local_cluster.throwaway_cluster(durable=False) as cluster:
        yield cluster
