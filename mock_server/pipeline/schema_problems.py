"""jsonschema errors → neutral `Problem`s, one per failing field, with a message a person can act on.

The validate stage uses it for requests and the self_check stage for responses.
"""
from __future__ import annotations

from jsonschema.exceptions import ValidationError as SchemaError

from mock_server.problems import MISSING, Problem

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
    elif keyword == "required":
        instance = error.instance if isinstance(error.instance, dict) else {}
        for name in error.validator_value:
            if name not in instance:
                yield Problem(_join(where, [name]) if where else name, "required", "This field is required.", MISSING)
    elif keyword == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        for name in (error.instance or {}):
            if name not in allowed:
                yield Problem(_join(where, [name]) if where else name, "unknown", "Unknown field.", error.instance[name])
    else:
        explain = _KEYWORDS.get(keyword, _invalid)
        yield explain(where, error.validator_value, error.instance)


# One failing keyword about one value → its Problem (field, kind, message, value, expected).
def _type(where, wanted, value) -> Problem:
    if isinstance(wanted, list):
        wanted = next((t for t in wanted if t != "null"), "null")
    return Problem(where, "type", TYPE_MESSAGES.get(wanted, "Invalid type."), value, wanted)


def _enum(where, allowed, value) -> Problem:
    choices = ", ".join(str(a) for a in allowed if a is not None)
    return Problem(where, "enum", f"Must be one of: {choices}.", value, allowed)


def _min_length(where, size, value) -> Problem:
    return Problem(where, "length", "Must not be empty." if size == 1 else f"Must be at least {size} characters.", value)


def _invalid(where, _expected, value) -> Problem:
    return Problem(where, "invalid", "Invalid value.", value)


_KEYWORDS = {
    "type": _type,
    "enum": _enum,
    "const": lambda where, const, value: _enum(where, [const], value),
    "format": lambda where, fmt, value: Problem(where, "format", FORMAT_MESSAGES.get(fmt, "Invalid format."), value),
    "pattern": lambda where, pattern, value: Problem(where, "pattern", "Invalid value.", value, pattern),
    "minimum": lambda where, low, value: Problem(where, "range", f"Must be at least {low}.", value),
    "exclusiveMinimum": lambda where, low, value: Problem(where, "range", f"Must be at least {low}.", value),
    "maximum": lambda where, high, value: Problem(where, "range", f"Must be at most {high}.", value),
    "exclusiveMaximum": lambda where, high, value: Problem(where, "range", f"Must be at most {high}.", value),
    "minLength": _min_length,
    "maxLength": lambda where, size, value: Problem(where, "length", f"Must be at most {size} characters.", value),
}
