"""Self-conformance: every answer the mock gives — success and each documented error — is what
its spec says, judged by openapi-core (an oracle independent of the mock's own validators)."""
from __future__ import annotations

import copy
import json

import pytest
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from mock_server import VENDORS, create_app, load_spec
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
    """Well-formed values for required query parameters (SprintHub's funnel `id` and instance `i`):
    the spec's own example, else 1 or "acme"."""
    out = {}
    for p in op.parameters:
        if p.location == "query" and p.required:
            fallback = 1 if spec.resolve(p.schema).get("type") == "integer" else "acme"
            documented = [c for c in spec.document.get("components", {}).get("parameters", {}).values()
                          if c.get("name") == p.name and c.get("in") == "query"]
            out[p.name] = documented[0].get("example", fallback) if documented else fallback
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


def scoped_operations(vendor: str) -> list:
    """Operations whose security requirement names roles (OAuth2 scopes)."""
    spec = load_spec(vendor)
    return [op for op in spec.operations if any(scopes for req in op.security for scopes in req.values())]


VENDORS_WITH_ROLES = [v for v in VENDORS if scoped_operations(v)]


def test_nexudus_operations_name_their_roles():
    assert VENDORS_WITH_ROLES == ["nexudus"]
    assert {op.operation_id for op in scoped_operations("nexudus")} >= {"createCrmOpportunityHistory"}


@pytest.mark.parametrize("vendor", VENDORS_WITH_ROLES)
def test_roles_are_enforced_with_a_documented_403(vendor):
    spec = load_spec(vendor)
    scoped = scoped_operations(vendor)
    keys = {vendor: [{"credentials": {"OAuth2": "no-roles"}, "user": {"Email": "x@example.com"}, "roles": []}]}
    walker = Walker(vendor, keys=keys)
    for op in scoped:
        response = walker.send(op, placeholder_path(op, spec), required_query(op, spec),
                               body={} if op.has_body else None, headers={"Authorization": "Bearer no-roles"})
        assert response.status_code == 403, op.operation_id


# Examples whose values are placeholders no real account holds: the vendor rejects them too.
PLACEHOLDER_EXAMPLES = {
    ("nexudus", "createCrmOpportunityHistory", "seed"): "the seed's NewCrmBoardColumnId 0 names no column",
}


def documented_bodies(spec, op) -> dict:
    media = op.raw["requestBody"]["content"][op.body_media_types[0]]
    examples = {name: spec.resolve(e)["value"] for name, e in (media.get("examples") or {}).items()}
    if "example" in media:
        examples["example"] = media["example"]
    return examples


def documented_requests():
    """Every request-body example of every authenticated write operation in the specs."""
    for vendor in VENDORS:
        spec = load_spec(vendor)
        for op in spec.operations:
            if op.has_body and op.security:
                for name, body in documented_bodies(spec, op).items():
                    yield pytest.param(vendor, op.operation_id, name, body, id=f"{vendor}-{op.operation_id}-{name}")


@pytest.mark.parametrize("vendor, operation_id, name, body", list(documented_requests()))
def test_requests_copied_from_the_docs_succeed(vendor, operation_id, name, body):
    """The seeded world holds what the spec's examples name (leads, statuses, columns, users), so
    a documented request works against the mock as it does against the vendor."""
    walker = Walker(vendor)
    op, spec = walker.spec.by_id[operation_id], walker.spec
    path = {}
    if op.method != "POST":  # an update: first make the object, with the documented creates
        collection = op.path.split("/{")[0].rstrip("/")
        create = next(o for o in spec.operations if o.method == "POST" and o.path.rstrip("/") == collection)
        for example in documented_bodies(spec, create).values():
            made = walker.send(create, query=required_query(create, spec), body=example)
        path = {p.name: made.get_json()["id"] for p in op.parameters if p.location == "path"}
    if "opportunity_id" in body:  # history is imported for an opportunity that must exist first
        made = walker.send(spec.by_id["createOpportunity"], body={}).get_json()
        body = {**body, "opportunity_id": made["id"]}
    response = walker.send(op, path, required_query(op, spec), body=body)
    expected = 400 if (vendor, operation_id, name) in PLACEHOLDER_EXAMPLES else 200
    assert response.status_code == expected, response.get_json()
