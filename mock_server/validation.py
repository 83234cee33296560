"""Request → typed parameters and body, or neutral `Problem`s.

One `RequestValidator` per operation is built at start-up: its jsonschema validators are compiled
once, so a request only pays for coercion and validation, never for reading the spec.
"""
from __future__ import annotations

from urllib.parse import parse_qsl

from jsonschema.exceptions import ValidationError as SchemaError

from mock_server import jsonio
from mock_server.problems import MISSING, MockError, Problem
from mock_server.spec import Operation, Spec

TYPE_MESSAGES = {
    "integer": "Must be an integer.",
    "number": "Must be a number.",
    "string": "Must be a string.",
    "boolean": "Must be a boolean.",
    "object": "Must be an object.",
    "array": "Must be a list.",
    "null": "Must be null.",
}
FORMAT_MESSAGES = {
    "date-time": "Must be a valid ISO 8601 date-time.",
    "date": "Must be a valid date (YYYY-MM-DD).",
    "email": "Must be a valid email address.",
    "uuid": "Must be a valid UUID.",
    "uri": "Must be a valid URI.",
    "int32": "Must be a whole number between -2147483648 and 2147483647.",
    "int64": "Must be a whole number between -9223372036854775808 and 9223372036854775807.",
}
FORM_MEDIA = "application/x-www-form-urlencoded"


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


def problems_from(errors, prefix: str = "") -> list[Problem]:
    """jsonschema errors → one `Problem` per failing field, with a message a person can act on."""
    problems: dict[str, Problem] = {}
    for error in errors:
        for problem in _explain(error, prefix):
            problems.setdefault(problem.field, problem)
    return list(problems.values())


def _join(prefix: str, path) -> str:
    parts = [prefix] if prefix else []
    parts += [str(p) for p in path]
    return ".".join(parts)


def _explain(error: SchemaError, prefix: str):
    where = _join(prefix, error.absolute_path)
    keyword = error.validator
    if keyword in ("oneOf", "anyOf") and error.context:
        # A nullable ref (`oneOf: [$ref, {type: 'null'}]`) fails twice; the non-null branch explains.
        meaningful = [e for e in error.context if not (e.validator == "type" and e.validator_value == "null")]
        best = max(meaningful or error.context, key=lambda e: len(e.absolute_path))
        yield from _explain(best, prefix)
        return
    if keyword == "required":
        instance = error.instance if isinstance(error.instance, dict) else {}
        for name in error.validator_value:
            if name not in instance:
                yield Problem(_join(where, [name]) if where else name, "required", "This field is required.", MISSING)
        return
    if keyword == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        for name in (error.instance or {}):
            if name not in allowed:
                yield Problem(_join(where, [name]) if where else name, "unknown", "Unknown field.", error.instance[name])
        return
    value = error.instance
    if keyword == "type":
        wanted = error.validator_value
        if isinstance(wanted, list):
            wanted = next((t for t in wanted if t != "null"), "null")
        yield Problem(where, "type", TYPE_MESSAGES.get(wanted, "Invalid type."), value, wanted)
    elif keyword in ("enum", "const"):
        allowed = error.validator_value if keyword == "enum" else [error.validator_value]
        choices = ", ".join(str(a) for a in allowed if a is not None)
        yield Problem(where, "enum", f"Must be one of: {choices}.", value, allowed)
    elif keyword == "format":
        yield Problem(where, "format", FORMAT_MESSAGES.get(error.validator_value, "Invalid format."), value)
    elif keyword == "pattern":
        yield Problem(where, "pattern", "Invalid value.", value, error.validator_value)
    elif keyword in ("minimum", "exclusiveMinimum"):
        yield Problem(where, "range", f"Must be at least {error.validator_value}.", value)
    elif keyword in ("maximum", "exclusiveMaximum"):
        yield Problem(where, "range", f"Must be at most {error.validator_value}.", value)
    elif keyword == "minLength":
        msg = "Must not be empty." if error.validator_value == 1 else f"Must be at least {error.validator_value} characters."
        yield Problem(where, "length", msg, value)
    elif keyword == "maxLength":
        yield Problem(where, "length", f"Must be at most {error.validator_value} characters.", value)
    else:
        yield Problem(where, "invalid", "Invalid value.", value)


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

    def parameters(self, location: str, values, problems: list[Problem]) -> dict:
        """`values` is a plain dict (name → string); declared parameters come out typed."""
        out = {}
        for param, json_type, validator, default in self.by_location[location]:
            raw = values.get(param.name)
            if raw is None:
                if param.required:
                    problems.append(Problem(param.name, "required", "This field is required.", MISSING))
                elif default is not MISSING:
                    out[param.name] = default
                continue
            value = _coerce(raw, json_type)
            found = problems_from(validator.iter_errors(value), prefix=param.name)
            problems.extend(found)
            if not found:
                out[param.name] = value
        return out

    def query(self, args, problems: list[Problem]) -> dict:
        # One pass into a plain dict: werkzeug's MultiDict.get raises (and catches) KeyError for
        # every absent name, which cost more than validation on list endpoints (profiled).
        values = dict(args.items())
        if self.reject_unknown_query:
            for name, value in values.items():
                if name not in self.query_names:
                    problems.append(Problem(name, "unknown", "Unknown query parameter.", value))
        return self.parameters("query", values, problems)

    def headers(self, headers, problems: list[Problem]) -> dict:
        if not self.by_location["header"]:
            return {}
        declared = {p.name: headers.get(p.name) for p, *_ in self.by_location["header"]}
        return self.parameters("header", declared, problems)

    def body(self, content_type: str | None, raw: bytes, problems: list[Problem]):
        """Parse the body and add its schema problems to `problems`. Transport-level faults
        (no body, wrong media type, unparseable) raise at once: nothing else about it matters."""
        if self.body_validator is None:
            return None
        mimetype = (content_type or "").split(";", 1)[0].strip().lower()
        if not raw:
            if self.op.body_required:
                raise MockError(400, "malformed", "A request body is required.")
            return None
        if mimetype not in self.media_types:
            wanted = " or ".join(self.media_types)
            raise MockError(415, "unsupported_media_type", f"Content-Type must be {wanted}, not {mimetype or 'missing'}.")
        if mimetype == FORM_MEDIA:
            try:
                body = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
            except UnicodeDecodeError:
                raise MockError(400, "malformed", "The form body is not valid UTF-8.") from None
        else:
            try:
                body = jsonio.loads(raw)
            except ValueError as exc:
                raise MockError(400, "malformed", f"The request body is not valid JSON: {exc}.") from None
        problems.extend(problems_from(self.body_validator.iter_errors(body)))
        return body
