"""The specs are the single source of truth: they must be valid, complete and self-consistent."""
from __future__ import annotations

import pytest
from click.testing import CliRunner
from openapi_spec_validator import validate

from mock_server import VENDORS, load_spec
from mock_server.serve.cli import main  # the command line itself, as a user runs it

# Every operation the seed documents, as (method, path served under the spec's server, security).
SEED_OPERATIONS = {
    "close": [
        ("POST", "/opportunity/", {"ApiKeyAuth", "OAuth2"}),
        ("GET", "/activity/status_change/opportunity/", {"ApiKeyAuth", "OAuth2"}),
        ("POST", "/activity/status_change/opportunity/", {"ApiKeyAuth", "OAuth2"}),
        ("GET", "/activity/status_change/opportunity/{id}/", {"ApiKeyAuth", "OAuth2"}),
        ("DELETE", "/activity/status_change/opportunity/{id}/", {"ApiKeyAuth", "OAuth2"}),
    ],
    "nexudus": [("POST", "/crm/crmopportunityhistories", {"OAuth2", "BasicAuth"})],
    "sprinthub": [
        ("POST", "/crmopportunity", {"BearerAuth", "ApiToken"}),
        ("PUT", "/crmopportunity/{opportunityId}", {"BearerAuth", "ApiToken"}),
    ],
}
SERVERS = {
    "close": "https://api.close.com/api/v1",
    "nexudus": "https://spaces.nexudus.com/api",
    "sprinthub": "https://sprinthub-api-master.sprinthub.app",
}


def walk(node, path=()):
    """Every (json-path, dict) in a document."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from walk(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, (*path, index))


def examples_with_schemas(spec):
    """(where, example, schema) for schema-level, media-type-level and parameter examples."""
    for where, node in walk(spec.document):
        if "schema" in node and ("example" in node or "examples" in node):
            if "example" in node:
                yield where, node["example"], node["schema"]
            for name, example in (node.get("examples") or {}).items():
                example = spec.resolve(example)
                yield (*where, name), example["value"], node["schema"]
        elif "example" in node and ("type" in node or "properties" in node or "$ref" in node):
            if where and where[-1] == "properties":
                continue
            yield where, node["example"], {k: v for k, v in node.items() if k != "example"}


@pytest.mark.parametrize("vendor", VENDORS)
def test_spec_is_valid_openapi_31(vendor):
    spec = load_spec(vendor)
    assert spec.document["openapi"].startswith("3.1")
    validate(spec.document)
    assert spec.server_url == SERVERS[vendor]


@pytest.mark.parametrize("vendor", VENDORS)
def test_every_ref_resolves(vendor):
    spec = load_spec(vendor)
    refs = [node["$ref"] for _, node in walk(spec.document) if isinstance(node.get("$ref"), str)]
    assert refs, "a spec without $refs would make this test vacuous"
    for ref in refs:
        assert ref.startswith("#/"), f"non-local $ref {ref}"
        spec.pointer(ref)  # raises KeyError when dangling


@pytest.mark.parametrize("vendor", VENDORS)
def test_every_example_validates_against_its_schema(vendor):
    spec = load_spec(vendor)
    found = list(examples_with_schemas(spec))
    assert len(found) >= 3
    for where, example, schema in found:
        errors = [e.message for e in spec.validator(schema).iter_errors(example)]
        assert not errors, f"example at {'/'.join(map(str, where))}: {errors}"


# Formats the OpenAPI specification defines as hints, with nothing to check.
ANNOTATION_FORMATS = {"password"}


@pytest.mark.parametrize("vendor", VENDORS)
def test_every_format_a_spec_uses_is_checked(vendor):
    """A format without a checker is silently accepted whatever the value: each one the specs use has
    its checker installed (the dependencies list them one by one, not jsonschema's whole extra)."""
    from mock_server.spec import FORMAT_CHECKER

    used = {node["format"] for _, node in walk(load_spec(vendor).document) if isinstance(node.get("format"), str)}
    assert used and not used - set(FORMAT_CHECKER.checkers) - ANNOTATION_FORMATS


def test_the_example_check_catches_a_bad_example():
    spec = load_spec("close")
    bad = {"value": "five hundred"}
    assert list(spec.validator(spec.component_schema("CreateOpportunity")).iter_errors(bad))


@pytest.mark.parametrize("vendor", VENDORS)
def test_seed_operations_are_present_with_their_auth(vendor):
    spec = load_spec(vendor)
    served = {(op.method, op.path): op for op in spec.operations}
    for method, path, schemes in SEED_OPERATIONS[vendor]:
        op = served.get((method, path))
        assert op is not None, f"{method} {path} missing from specs/{vendor}.yaml"
        offered = {name for requirement in op.security for name in requirement}
        assert offered == schemes
        assert "200" in op.statuses and "400" in op.statuses and "401" in op.statuses


def test_close_create_keeps_the_seed_request_schema_exactly():
    spec = load_spec("close")
    schema = spec.document["components"]["schemas"]["CreateOpportunity"]
    assert set(schema["properties"]) == {
        "attachments", "confidence", "contact_id", "created_by", "custom_fields", "date_created",
        "date_won", "lead_id", "note", "status_id", "user_id", "value", "value_period"}
    assert schema["properties"]["value"]["type"] == ["integer", "null"]
    assert "required" not in schema


def test_nexudus_create_requires_the_new_column():
    spec = load_spec("nexudus")
    op = spec.by_id["createCrmOpportunityHistory"]
    errors = list(spec.validator(op.body_schema).iter_errors({"CrmOpportunityId": 1}))
    assert any(e.validator == "required" for e in errors)


@pytest.mark.parametrize("vendor", VENDORS)
def test_every_operation_is_documented_and_sourced(vendor):
    spec = load_spec(vendor)
    for op in spec.operations:
        assert op.raw.get("description") or op.raw.get("externalDocs"), op.operation_id
        if op.has_body:
            assert {"413", "415"} & op.statuses, f"{op.operation_id} takes a body but documents no 413/415"
        if "{" in op.path and vendor != "sprinthub":
            assert "404" in op.statuses, op.operation_id


@pytest.mark.parametrize("vendor", VENDORS)
def test_create_operations_link_to_their_followers(vendor):
    spec = load_spec(vendor)
    creates = [op for op in spec.operations if op.method == "POST" and op.security]
    linked = [op for op in creates if op.raw["responses"]["200"].get("links")]
    assert linked, f"no create operation of {vendor} has OpenAPI links"
    for op in linked:
        for link in op.raw["responses"]["200"]["links"].values():
            assert link["operationId"] in spec.by_id


def test_specs_command_lists_every_operation_and_path_whole():
    result = CliRunner().invoke(main, ["specs"])
    assert result.exit_code == 0, result.output
    assert "…" not in result.output  # nothing cut short
    for vendor in VENDORS:
        spec = load_spec(vendor)
        for op in spec.operations:
            assert op.operation_id in result.output
            assert f"/{vendor}{spec.base_path}{op.path}" in result.output
