"""`match`: which requests an override answers, a journal query returns, or a verify counts.

One shape everywhere (a JSON object; anything left out matches all):

    {"vendor": "close", "operation": "createOpportunity",      # or "method" + "path"
     "method": "POST", "path": "/opportunity/*",               # a template or a glob, vendor-relative
     "query": {"_limit": "10"}, "headers": {"X-Trace": "1"},   # subsets, as strings
     "body": {"value": 500},                                   # the body contains these fields and values
     "credential": "api_alice:", "user": {"name": "Alice"}}    # who called

A request is seen as a `view`: a plain dict with the same keys, built from a live exchange or from
a journal entry, so matching and near-miss explanations are one piece of code.
"""
from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

FIELDS = ("vendor", "operation", "method", "path", "query", "headers", "body", "credential", "user")


class BadMatch(ValueError):
    """A match (or override) that cannot be used: names the field and the valid values."""


@dataclass(frozen=True)
class Match:
    vendor: str | None = None
    operation: str | None = None
    method: str | None = None
    path: str | None = None
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    credential: str | None = None
    user: Mapping[str, Any] = field(default_factory=dict)

    def differences(self, view: Mapping) -> list[str]:
        """What keeps `view` from matching, one line per field (empty: it matches)."""
        out = []
        for name in ("vendor", "operation", "method"):
            wanted = getattr(self, name)
            have = view.get(name)
            if wanted is not None and (have or "").lower() != wanted.lower():
                out.append(f"{name}: expected {wanted!r}, got {have!r}")
        if self.path is not None and not _path_matches(self.path, view):
            out.append(f"path: expected {self.path!r}, got {view.get('path')!r}")
        out += _subset("query", self.query, view.get("query") or {}, lambda v: str(v))
        headers = {k.lower(): v for k, v in (view.get("headers") or {}).items()}
        out += _subset("headers", {k.lower(): v for k, v in self.headers.items()}, headers, lambda v: str(v))
        if self.body is not None:
            out += _contains("body", self.body, view.get("body"))
        if self.credential is not None and self.credential not in (view.get("credentials") or ()):
            out.append("credential: not the one sent")
        out += _subset("user", self.user, view.get("user") or {}, lambda v: v)
        return out

    def matches(self, view: Mapping) -> bool:
        return not self.differences(view)

    def as_dict(self) -> dict:
        return {k: v for k, v in (
            ("vendor", self.vendor), ("operation", self.operation), ("method", self.method), ("path", self.path),
            ("query", dict(self.query)), ("headers", dict(self.headers)), ("body", self.body),
            ("credential", "***" if self.credential else None), ("user", dict(self.user)),
        ) if v not in (None, {})}


def parse_match(raw, operations: Mapping[str, set[str]]) -> Match:
    """A `Match` from JSON, checked against what exists (`operations`: vendor → its operationIds)."""
    if raw is None:
        return Match()
    if not isinstance(raw, Mapping):
        raise BadMatch("match: must be an object")
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        raise BadMatch(f"match.{unknown[0]}: unknown field; the fields are {', '.join(FIELDS)}")
    vendor = _text(raw, "vendor")
    if vendor is not None and vendor not in operations:
        raise BadMatch(f"match.vendor: unknown vendor {vendor!r}; the vendors are {', '.join(operations)}")
    operation = _text(raw, "operation")
    if operation is not None:
        known = operations[vendor] if vendor else set().union(*operations.values())
        if operation not in known:
            raise BadMatch(f"match.operation: unknown operationId {operation!r}"
                           f"{' for ' + vendor if vendor else ''}; known: {', '.join(sorted(known))}")
    for name in ("query", "headers", "user"):
        if name in raw and not isinstance(raw[name], Mapping):
            raise BadMatch(f"match.{name}: must be an object of field names and values")
    return Match(vendor=vendor, operation=operation, method=_text(raw, "method"), path=_text(raw, "path"),
                 query=dict(raw.get("query") or {}), headers=dict(raw.get("headers") or {}), body=raw.get("body"),
                 credential=_text(raw, "credential"), user=dict(raw.get("user") or {}))


def _text(raw: Mapping, name: str) -> str | None:
    value = raw.get(name)
    if value is not None and not isinstance(value, str):
        raise BadMatch(f"match.{name}: must be a string")
    return value


def _path_matches(wanted: str, view: Mapping) -> bool:
    """A spec template (`/opportunity/{id}/`) or a glob (`/opportunity/*`), vendor-relative or full;
    a trailing slash is forgiven, as the router forgives it."""
    candidates = {v for v in (view.get("template"), view.get("relative_path"), view.get("path")) if isinstance(v, str)}
    bare = wanted.rstrip("/") or "/"
    for have in candidates:
        for form in (have, have.rstrip("/") or "/"):
            if form == bare or fnmatch.fnmatchcase(form, wanted) or fnmatch.fnmatchcase(form, bare):
                return True
    return False


def _subset(where: str, wanted: Mapping, have: Mapping, cast) -> list[str]:
    return [f"{where}.{key}: expected {value!r}, got {have.get(key)!r}"
            for key, value in wanted.items() if key not in have or cast(have[key]) != cast(value)]


def _contains(where: str, wanted, have) -> list[str]:
    """`have` contains `wanted`: every field of an object (recursively), equal values otherwise."""
    if isinstance(wanted, Mapping):
        if not isinstance(have, Mapping):
            return [f"{where}: expected an object, got {have!r}"]
        out = []
        for key, value in wanted.items():
            if key not in have:
                out.append(f"{where}.{key}: missing (expected {value!r})")
            else:
                out += _contains(f"{where}.{key}", value, have[key])
        return out
    return [] if have == wanted else [f"{where}: expected {wanted!r}, got {have!r}"]
