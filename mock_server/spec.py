"""Load a vendor's OpenAPI document once and index its operations.

Everything the request path needs from a spec (routes, parameter schemas, body schema, security,
documented statuses) is extracted here at start-up, so no request ever walks the YAML.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import jsonschema_rs
import yaml
from jsonschema import Draft202012Validator, FormatChecker, validators


def _specs_dir() -> Path:
    """specs/ beside the package in a checkout; mock_server/specs/ inside an installed wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "specs", here.parent / "specs"):
        if (candidate / "close.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"no specs/ next to {here}: the installation is incomplete")


SPECS_DIR = _specs_dir()
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")

# One format checker for every validator: date-time needs rfc3339-validator (a dependency).
FORMAT_CHECKER = FormatChecker()


def _integer_format(bits: int):
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

    def check(value) -> bool:
        # Non-integers are the `type` keyword's business; .NET (Nexudus) rejects out-of-range IDs.
        return not isinstance(value, int) or isinstance(value, bool) or low <= value <= high

    return check


FORMAT_CHECKER.checks("int32")(_integer_format(32))
FORMAT_CHECKER.checks("int64")(_integer_format(64))


def _is_integer(_checker, value) -> bool:
    # JSON Schema counts 1.0 and 1e18 as integers; the vendors' integer fields take whole numbers
    # written as such (a float turned "$1.0" and "$1e+18" into money strings).
    return isinstance(value, int) and not isinstance(value, bool)


# The validator class for every schema: Draft 2020-12 with whole-number integers.
Validator: type[Draft202012Validator] = validators.extend(
    Draft202012Validator, type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer))


INT64 = (-(2**63), 2**63 - 1)
INT_FORMATS = {"int32": (-(2**31), 2**31 - 1), "int64": INT64}


class SchemaValidator:
    """One schema's validator. python-jsonschema's errors are what the vendors' messages are made
    from (and what the tests pin), but it took about a third of a valid create's time; jsonschema-rs,
    compiled, answers "valid?" in a few microseconds. So jsonschema-rs judges first and a valid
    instance is done; anything it refuses, or cannot judge exactly as python-jsonschema would, goes
    to python-jsonschema, whose verdict and errors are the answer. jsonschema-rs is kept at least as
    strict: formats are python-jsonschema's own checks, int32/int64 become bounds, and instances
    holding a float (1.0 is an integer to jsonschema-rs, not to the vendors) or an integer past
    int64 skip it. tests/test_schema_validator.py compares the two over every schema of every spec."""

    __slots__ = ("python", "_fast", "schema")

    def __init__(self, schema: dict) -> None:
        self.schema = schema
        self.python = Validator(schema, format_checker=FORMAT_CHECKER)
        self._fast: jsonschema_rs.Draft202012Validator | None
        try:
            self._fast = jsonschema_rs.Draft202012Validator(
                _stricter_for_rs(schema), formats=_RS_FORMATS, validate_formats=True, ignore_unknown_formats=True)
        except Exception:  # noqa: BLE001 - a schema it cannot compile (a regex dialect): python-jsonschema alone
            self._fast = None

    def iter_errors(self, instance):
        if self._fast is not None and _exact_in_rs(instance):
            try:
                if self._fast.is_valid(instance):
                    return iter(())
            except Exception:  # noqa: BLE001, S110 - a lone surrogate, say: python-jsonschema judges it
                pass
        return self.python.iter_errors(instance)


def _check_format(name: str):
    def check(value) -> bool:
        return FORMAT_CHECKER.conforms(value, name)
    return check


# Every format python-jsonschema checks, checked by its own function (jsonschema-rs' own date-time
# or uri rules differ in corner cases); int32/int64 are bounds instead (jsonschema-rs only calls
# format functions on strings).
_RS_FORMATS = {name: _check_format(name) for name in FORMAT_CHECKER.checkers if name not in INT_FORMATS}


def _stricter_for_rs(node):
    if isinstance(node, list):
        return [_stricter_for_rs(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _stricter_for_rs(value) for key, value in node.items()}
    bounds = INT_FORMATS.get(node.get("format")) if isinstance(node.get("format"), str) else None
    if bounds:
        out["allOf"] = [*out.get("allOf", []), {"minimum": bounds[0], "maximum": bounds[1]}]
    return out


def _exact_in_rs(value) -> bool:
    """Whether jsonschema-rs sees `value` exactly as python-jsonschema does: no float, no integer past int64."""
    if isinstance(value, dict):
        return all(_exact_in_rs(v) for v in value.values())
    if isinstance(value, list):
        return all(_exact_in_rs(v) for v in value)
    if isinstance(value, float):
        return False
    if isinstance(value, int) and not isinstance(value, bool):
        return INT64[0] <= value <= INT64[1]
    return True


def _bounded(node: dict) -> dict:
    """An integer without a declared format is an int64: nothing the vendors or the stores hold is
    wider, and an unbounded one ended as an OverflowError (a 500) or silently lost precision.
    As minimum/maximum (plain comparisons), not `format: int64`: this runs on every integer sent."""
    types = node.get("type")
    if "format" not in node and (types == "integer" or (isinstance(types, list) and "integer" in types)):
        return {"minimum": INT64[0], "maximum": INT64[1], **node}
    return node


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str  # query | path | header
    required: bool
    schema: dict


@dataclass
class Operation:
    operation_id: str
    method: str  # upper case
    path: str  # template relative to the server base path, e.g. /opportunity/{id}/
    parameters: list[Parameter]
    body_schema: dict | None
    body_required: bool
    body_media_types: tuple[str, ...]
    security: list[dict[str, list[str]]]
    statuses: frozenset[str]
    raw: dict = field(repr=False)

    @property
    def has_body(self) -> bool:
        return self.body_schema is not None


class Spec:
    """A parsed vendor spec: the raw document, its base path and its operations."""

    def __init__(self, vendor: str, document: dict, path: Path | None = None):
        self.vendor = vendor
        self.document = document
        self.path = path
        server_url = document["servers"][0]["url"]
        self.server_url = server_url
        self.base_path = urlparse(server_url).path.rstrip("/")
        self.security_schemes: dict = document.get("components", {}).get("securitySchemes", {})
        self._validators: dict[str, SchemaValidator] = {}
        self.operations: list[Operation] = list(self._index_operations())
        self.by_id = {op.operation_id: op for op in self.operations}

    # -- schemas -------------------------------------------------------------------------------
    def resolve(self, node: dict) -> dict:
        """Follow a local `$ref` (parameters, responses, request bodies) to its target."""
        while isinstance(node, dict) and "$ref" in node:
            node = self.pointer(node["$ref"])
        return node

    def pointer(self, ref: str):
        target = self.document
        for part in ref.lstrip("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        return target

    def inline(self, node, depth: int = 0):
        """A copy of `node` with every local `$ref` replaced by its target (siblings kept via allOf)."""
        if depth > 64:
            raise ValueError("recursive $ref in spec; inlining needs acyclic schemas")
        if isinstance(node, list):
            return [self.inline(item, depth) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            target = self.inline(self.pointer(node["$ref"]), depth + 1)
            siblings = {k: self.inline(v, depth) for k, v in node.items() if k != "$ref"}
            return {"allOf": [target], **siblings} if siblings else target
        return _bounded({key: self.inline(value, depth) for key, value in node.items()})

    def validator(self, schema: dict) -> SchemaValidator:
        """A validator compiled once per distinct schema. Local `$ref`s are inlined here: resolving
        them through `referencing` on every request was the largest hot-path cost (profiled)."""
        key = repr(schema)  # schemas are small JSON values: their repr identifies them
        found = self._validators.get(key)
        if found is None:
            found = self._validators[key] = SchemaValidator(self.inline(schema))
        return found

    def component_schema(self, name: str) -> dict:
        return {"$ref": f"#/components/schemas/{name}"}

    def response_schema(self, op: Operation, status: int | str) -> dict | None:
        response = op.raw.get("responses", {}).get(str(status))
        if response is None:
            return None
        response = self.resolve(response)
        media = response.get("content", {}).get("application/json")
        return media.get("schema") if media else None

    # -- operations ------------------------------------------------------------------------------
    def _index_operations(self):
        global_security = self.document.get("security", [])
        for path, item in self.document.get("paths", {}).items():
            shared = [self.resolve(p) for p in item.get("parameters", [])]
            for method in HTTP_METHODS:
                raw = item.get(method)
                if raw is None:
                    continue
                params = {(p["name"], p["in"]): p for p in shared}
                for p in raw.get("parameters", []):
                    p = self.resolve(p)
                    params[(p["name"], p["in"])] = p
                body = self.resolve(raw.get("requestBody", {})) or {}
                content = body.get("content", {})
                media_types = tuple(content)
                body_schema = next(iter(content.values()), {}).get("schema") if content else None
                yield Operation(
                    operation_id=raw["operationId"],
                    method=method.upper(),
                    path=path,
                    parameters=[
                        Parameter(p["name"], p["in"], bool(p.get("required")), p.get("schema", {}))
                        for p in params.values()
                    ],
                    body_schema=body_schema,
                    body_required=bool(body.get("required")),
                    body_media_types=media_types,
                    security=raw.get("security", global_security),
                    statuses=frozenset(raw.get("responses", {})),
                    raw=raw,
                )


@functools.cache
def load_spec(vendor: str) -> Spec:
    path = SPECS_DIR / f"{vendor}.yaml"
    with path.open(encoding="utf-8") as fh:
        # libyaml's parser when PyYAML has it: the pure-Python one took 0.6 s of every start-up.
        return Spec(vendor, yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)), path)


def path_regex(base: str, template: str) -> re.Pattern:
    """`/opportunity/{id}/` → a regex with a named group per path parameter."""
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(base + template))
    return re.compile(f"^{pattern}$")
