"""validate: a request's parameters and body → typed inputs plus the `Problem`s found.

One `RequestValidator` per operation is built at start-up: its jsonschema validators are compiled
once, so a request only pays for coercion and validation, never for reading the spec. Validators
*return* what they found; only the stage turns problems into the vendor's 400.
"""
from __future__ import annotations

from urllib.parse import parse_qsl

from werkzeug.exceptions import RequestEntityTooLarge

from mock_server import jsonio
from mock_server.pipeline.exchange import Call, Exchange
from mock_server.pipeline.schema_problems import problems_from
from mock_server.pipeline.stage import Outcome, Stage
from mock_server.problems import MISSING, MockError, Problem, validation_failed
from mock_server.spec import Operation, Spec

FORM_MEDIA = "application/x-www-form-urlencoded"
NUL_MESSAGE = "Must not contain a NUL character."


def primary_type(schema: dict, spec: Spec) -> str | None:
    """The JSON type a parameter's string value should be coerced to (first non-null type)."""
    schema = spec.resolve(schema)
    types = schema.get("type")
    if isinstance(types, list):
        types = next((t for t in types if t != "null"), None)
    if types:
        return types
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            found = primary_type(sub, spec)
            if found and found != "null":
                return found
    if "enum" in schema:
        return "string"
    return None


def _coerce(raw: str, json_type: str | None):
    """Query/path strings to the declared type; on failure the raw string is kept for the validator."""
    try:
        if json_type == "integer":
            return int(raw)
        if json_type == "number":
            return float(raw) if any(c in raw for c in ".eE") else int(raw)
        if json_type == "boolean":
            lowered = raw.lower()
            if lowered in ("true", "1"):
                return True
            if lowered in ("false", "0"):
                return False
    except ValueError:
        pass
    return raw


class RequestValidator:
    """Validates one operation's parameters and body; built once per operation."""

    def __init__(self, spec: Spec, op: Operation, reject_unknown_query: bool = False):
        self.op = op
        self.reject_unknown_query = reject_unknown_query
        self.by_location: dict[str, list] = {"query": [], "path": [], "header": []}
        for p in op.parameters:
            if p.location in self.by_location:
                self.by_location[p.location].append((
                    p,
                    primary_type(p.schema, spec),
                    spec.validator(p.schema),
                    spec.resolve(p.schema).get("default", MISSING),
                ))
        self.query_names = {p.name for p, *_ in self.by_location["query"]}
        self.body_validator = spec.validator(op.body_schema) if op.body_schema is not None else None
        self.media_types = op.body_media_types

    def parameters(self, location: str, values) -> tuple[dict, list[Problem]]:
        """`values` is a plain dict (name → string); declared parameters come out typed."""
        out, problems = {}, []
        for param, json_type, validator, default in self.by_location[location]:
            raw = values.get(param.name)
            if raw is None:
                if param.required:
                    problems.append(Problem(param.name, "required", "This field is required.", MISSING))
                elif default is not MISSING:
                    out[param.name] = default
                continue
            if "\x00" in raw:  # no store can keep it (PostgreSQL refuses NUL in text): refused everywhere
                problems.append(Problem(param.name, "invalid", NUL_MESSAGE, raw))
                continue
            value = _coerce(raw, json_type)
            found = problems_from(validator.iter_errors(value), prefix=param.name)
            problems.extend(found)
            if not found:
                out[param.name] = value
        return out, problems

    def query(self, args) -> tuple[dict, list[Problem]]:
        # One pass into a plain dict: werkzeug's MultiDict.get raises (and catches) KeyError for
        # every absent name, which cost more than validation on list endpoints (profiled).
        values = dict(args.items())
        unknown = [Problem(name, "unknown", "Unknown query parameter.", value)
                   for name, value in values.items()
                   if self.reject_unknown_query and name not in self.query_names]
        typed, problems = self.parameters("query", values)
        return typed, unknown + problems

    def headers(self, headers) -> tuple[dict, list[Problem]]:
        if not self.by_location["header"]:
            return {}, []
        declared = {p.name: headers.get(p.name) for p, *_ in self.by_location["header"]}
        return self.parameters("header", declared)

    def body(self, content_type: str | None, raw: bytes) -> tuple[object, list[Problem]] | MockError:
        """The parsed body and its schema problems; a transport-level fault (no body, wrong media
        type, unparseable) is a refusal on its own: nothing else about the body matters then."""
        if self.body_validator is None:
            return None, []
        mimetype = (content_type or "").split(";", 1)[0].strip().lower()
        if not raw:
            if self.op.body_required:
                return MockError(400, "malformed", "A request body is required.")
            return None, []
        if mimetype not in self.media_types:
            wanted = " or ".join(self.media_types)
            return MockError(415, "unsupported_media_type", f"Content-Type must be {wanted}, not {mimetype or 'missing'}.")
        if mimetype == FORM_MEDIA:
            try:
                body = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
            except UnicodeDecodeError:
                return MockError(400, "malformed", "The form body is not valid UTF-8.")
            if any("\x00" in value for value in body.values()):
                return MockError(400, "malformed", f"The form body contains a NUL character: {NUL_MESSAGE}")
        else:
            try:
                body = jsonio.loads(raw)
            except ValueError as exc:
                return MockError(400, "malformed", f"The request body is not valid JSON: {exc}.")
            if b"\\u0000" in raw:
                return MockError(400, "malformed", f"The request body contains \\u0000: {NUL_MESSAGE}")
            # Only a body with that many brackets can nest that deep: most are never walked.
            if raw.count(b"[") + raw.count(b"{") > jsonio.MAX_DEPTH and jsonio.deeper_than(body):
                return MockError(400, "malformed", f"The request body nests deeper than {jsonio.MAX_DEPTH} levels.")
        return body, problems_from(self.body_validator.iter_errors(body))


def read_body(request, op: Operation) -> bytes | MockError:
    """The raw body, within the size limit. A body that cannot be read (a bad chunk size, a client
    that hung up mid-body) is the client's fault: a 400, never a 500."""
    if not op.has_body:
        return b""
    environ, limit = request.environ, request.max_content_length
    length = environ.get("CONTENT_LENGTH") or ""
    # A plain Content-Length within the limit, not chunked: read straight from the server's stream
    # (werkzeug's wrapping of it was a tenth of a create). isascii: "²".isdigit() is true too.
    direct = length.isascii() and length.isdigit() and "HTTP_TRANSFER_ENCODING" not in environ \
        and (limit is None or int(length) <= limit)
    try:
        data = environ["wsgi.input"].read(int(length)) if direct else request.get_data(cache=False)
    except RequestEntityTooLarge:
        return too_large(request)
    except Exception as error:  # noqa: BLE001 - servers raise their own parse errors here (gunicorn's)
        return unreadable(type(error).__name__)
    if direct and len(data) != int(length):
        return unreadable("ClientDisconnected")  # the client hung up mid-body
    if not direct and limit is not None and len(data) >= limit and request.content_length is None:
        return too_large(request)  # werkzeug stops a chunked body at the limit without a word
    return data


def unreadable(reason: str) -> MockError:
    return MockError(400, "malformed", f"The request body could not be read ({reason}).")


def too_large(request) -> MockError:
    limit = request.max_content_length or 0
    return MockError(413, "too_large", f"The request body is larger than {limit // 1024 // 1024 or 1} MiB.")


class Validate(Stage):
    name = "validate"

    def __init__(self, mount) -> None:
        super().__init__(mount)
        vendor = mount.vendor
        self.validators = {op.operation_id: RequestValidator(vendor.spec, op, vendor.reject_unknown_query)
                           for op in vendor.spec.operations}

    def __call__(self, exchange: Exchange) -> Outcome:
        request, op, principal = exchange.request, exchange.op, exchange.principal
        assert op is not None and principal is not None  # route and authenticate ran
        validator = self.validators[op.operation_id]
        path, path_problems = validator.parameters("path", exchange.path_params)
        query, query_problems = validator.query(request.args)
        _, header_problems = validator.headers(request.headers)
        raw = read_body(request, op)
        if isinstance(raw, MockError):
            return raw
        parsed = validator.body(request.content_type, raw)
        if isinstance(parsed, MockError):
            return parsed
        body, body_problems = parsed
        exchange.body = body
        problems = path_problems + query_problems + header_problems + body_problems
        if problems:
            return validation_failed(problems)
        exchange.call = Call(op, path, query, body, principal, request.headers)
        return None
