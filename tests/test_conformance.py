"""Self-conformance: every answer the mock gives — success and each documented error — is what
its spec says, judged by openapi-core (an oracle independent of the mock's own validators)."""
from __future__ import annotations

import copy
import json

import pytest
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from mock_server import create_app
from mock_server.spec import VENDORS, load_spec
from tests.conftest import CLOSE_AUTH, NEXUDUS_AUTH, SPRINTHUB_AUTH

AUTH = {"close": CLOSE_AUTH, "nexudus": NEXUDUS_AUTH, "sprinthub": SPRINTHUB_AUTH}
HOST = "http://localhost"


def oracle(vendor: str) -> OpenAPI:
    document = copy.deepcopy(load_spec(vendor).document)
    document["servers"] = [{"url": HOST + load_spec(vendor).base_path}]
    return OpenAPI.from_dict(document, config=Config(spec_validator_cls=None))


ORACLES = {v: oracle(v) for v in VENDORS}


class Walker:
    """Sends a request through the Flask test client and checks the answer with openapi-core."""

    def __init__(self, vendor: str, **app_options):
        self.vendor = vendor
        self.spec = load_spec(vendor)
        self.client = create_app(vendor, **app_options).test_client()

    def send(self, op, path_params=None, query=None, body=None, raw=None, content_type="application/json",
             headers=None):
        path = self.spec.base_path + op.path
        for name, value in (path_params or {}).items():
            path = path.replace("{" + name + "}", str(value))
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        headers = AUTH[self.vendor] if headers is None else headers
        response = self.client.open(path, method=op.method, query_string=query or {}, data=data,
                                    headers={**headers, "Content-Type": content_type} if data else headers)
        request = MockRequest(HOST, op.method.lower(), path, path_pattern=self.spec.base_path + op.path,
                              args=query or {}, view_args=path_params or {}, headers=headers, data=data,
                              content_type=content_type)
        answer = MockResponse(response.data, status_code=response.status_code,
                              headers=dict(response.headers), content_type=response.mimetype)
        assert str(response.status_code) in op.statuses, (
            f"{op.operation_id} answered {response.status_code}, undocumented: {response.get_json()}")
        ORACLES[self.vendor].validate_response(request, answer)
        return response


def placeholder_path(op, spec) -> dict:
    """Path parameters that name nothing: integers far beyond any minted ID, or unknown strings."""
    out = {}
    for p in op.parameters:
        if p.location == "path":
            out[p.name] = 2_000_000_000 if spec.resolve(p.schema).get("type") == "integer" else "nope"
    return out


def required_query(op, spec) -> dict:
    """Well-formed values for required query parameters (SprintHub's funnel `id` and instance `i`)."""
    out = {}
    for p in op.parameters:
        if p.location == "query" and p.required:
            out[p.name] = 1 if spec.resolve(p.schema).get("type") == "integer" else "acme"
    return out


def operations():
    for vendor in VENDORS:
        for op in load_spec(vendor).operations:
            yield pytest.param(vendor, op.operation_id, id=f"{vendor}-{op.operation_id}")


@pytest.mark.parametrize("vendor, operation_id", list(operations()))
def test_every_documented_error_conforms(vendor, operation_id):
    walker = Walker(vendor)
    op, spec = walker.spec.by_id[operation_id], walker.spec
    path, query = placeholder_path(op, spec), required_query(op, spec)
    seen = set()
    if op.security and "401" in op.statuses:
        seen.add(walker.send(op, path, query, headers={}).status_code)
    if op.has_body:
        media = op.body_media_types[0]
        if "415" in op.statuses:
            seen.add(walker.send(op, path, query, raw=b"hello", content_type="text/plain").status_code)
        if "413" in op.statuses:
            seen.add(walker.send(op, path, query, raw=b"[" + b"1," * 600_000 + b"1]", content_type=media).status_code)
        seen.add(walker.send(op, path, query, raw=b"{broken", content_type=media).status_code)
        seen.add(walker.send(op, path, query, raw=b"[]", content_type="application/json").status_code)
    elif "404" in op.statuses:
        seen.add(walker.send(op, path, query).status_code)
    if "400" in op.statuses:
        # A value of the wrong type for the first typed query or path parameter.
        typed = [p for p in op.parameters if spec.resolve(p.schema).get("type") in ("integer", "number")]
        if typed:
            p = typed[0]
            bad_path = {**path, p.name: "not-a-number"} if p.location == "path" else path
            bad_query = {**query, p.name: "not-a-number"} if p.location == "query" else query
            seen.add(walker.send(op, bad_path, bad_query).status_code)
    assert seen, f"no error case reached {operation_id}"
    assert 500 not in seen


@pytest.mark.parametrize("vendor", VENDORS)
def test_roles_are_enforced_with_a_documented_403(vendor):
    spec = load_spec(vendor)
    scoped = [op for op in spec.operations if any(scopes for req in op.security for scopes in req.values())]
    if not scoped:
        pytest.skip(f"{vendor} has no per-operation roles")
    keys = {vendor: [{"credentials": {"OAuth2": "no-roles"}, "user": {"Email": "x@example.com"}, "roles": []}]}
    walker = Walker(vendor, keys=keys)
    for op in scoped:
        response = walker.send(op, placeholder_path(op, spec), required_query(op, spec),
                               body={} if op.has_body else None, headers={"Authorization": "Bearer no-roles"})
        assert response.status_code == 403, op.operation_id
