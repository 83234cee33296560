"""`match`: which requests an override answers, a journal query returns, or a verify counts.

One shape everywhere (a JSON object; anything left out matches all):

    {"vendor": "close", "operation": "createOpportunity",      # or "method" + "path"
     "method": "POST", "path": "/opportunity/*",               # a template or a glob, vendor-relative
     "query": {"_limit": "10"}, "headers": {"X-Trace": "1"},   # subsets, as strings
     "body": {"value": 500},                                   # the body contains these fields and values
     "credential": "api_alice:", "user": {"name": "Alice"}}    # who called

A request is seen as a `view`: a plain dict with the same keys, built from a live exchange or from
a journal entry, so matching and near-miss explanations are one piece of code.

A credential is held only as its digest (`credential_sha256`, which a match may also give instead),
and so is a header or query value named like a secret (`{"sha256": hex}`, as the journal masks
it): a request's values are compared by their digests, and an override kept in the store, a
snapshot of it or a verify's answer never holds the secret itself (`kept_form`).
"""
from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mock_server.redaction import Redactor, secret_digest

if TYPE_CHECKING:
    from mock_server.spec import Operation, Spec

FIELDS = ("vendor", "operation", "method", "path", "query", "headers", "body", "credential", "credential_sha256",
          "user")
SHA256 = re.compile(r"[0-9a-f]{64}")
SECRET_NAMES = Redactor()  # Authorization, api_key, apitoken, ...: the names the journal masks


@dataclass(frozen=True)
class Sha256:
    """A header or query value named like a secret, held as its digest."""

    hex: str

    def matches(self, value) -> bool:
        return secret_digest(str(value)) == self.hex


class BadMatch(ValueError):
    """A match (or override) that cannot be used: names the field and the valid values."""


@dataclass(frozen=True)
class Match:
    vendor: str | None = None
    operation: str | None = None
    method: str | None = None
    path: str | None = None
    query: Mapping[str, Any] = field(default_factory=dict)  # a value, or a Sha256 of one named like a secret
    headers: Mapping[str, Any] = field(default_factory=dict)
    body: Any = None
    credential_sha256: str | None = None
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
        if self.credential_sha256 is not None and self.credential_sha256 not in {
                secret_digest(sent) for sent in view.get("credentials") or ()}:
            out.append("credential: not the one sent")
        out += _subset("user", self.user, view.get("user") or {}, lambda v: v)
        return out

    def matches(self, view: Mapping) -> bool:
        return not self.differences(view)

    def as_dict(self) -> dict:
        return {k: v for k, v in (
            ("vendor", self.vendor), ("operation", self.operation), ("method", self.method), ("path", self.path),
            ("query", _masked(self.query)), ("headers", _masked(self.headers)), ("body", _shown(self.body, "***")),
            ("credential", "***" if self.credential_sha256 else None), ("user", dict(self.user)),
        ) if v not in (None, {})}


def parse_match(raw, specs: Mapping[str, Spec], override: bool = False) -> Match:
    """A `Match` from JSON, checked against what exists (`specs`: vendor → its spec). `override`: it
    is an override's, which sees live requests (the spec's, see `route_problem`, with credentials);
    else a journal query's or a verify's."""
    if raw is None:
        return Match()
    if not isinstance(raw, Mapping):
        raise BadMatch("match: must be an object")
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        raise BadMatch(f"match.{unknown[0]}: unknown field; the fields are {', '.join(FIELDS)}")
    vendor = _text(raw, "vendor")
    if vendor is not None and vendor not in specs:
        raise BadMatch(f"match.vendor: unknown vendor {vendor!r}; the vendors are {', '.join(specs)}")
    operation = _text(raw, "operation")
    if operation is not None:
        known = set(specs[vendor].by_id) if vendor else {i for spec in specs.values() for i in spec.by_id}
        if operation not in known:
            raise BadMatch(f"match.operation: unknown operationId {operation!r}"
                           f"{' for ' + vendor if vendor else ''}; known: {', '.join(sorted(known))}")
    for name in ("query", "headers", "user"):
        if name in raw and not isinstance(raw[name], Mapping):
            raise BadMatch(f"match.{name}: must be an object of field names and values")
    match = Match(vendor=vendor, operation=operation, method=_text(raw, "method"), path=_text(raw, "path"),
                  query=_values(raw, "query"), headers=_values(raw, "headers"), body=_body(raw.get("body"), "match.body"),
                  credential_sha256=_credential_digest(raw), user=dict(raw.get("user") or {}))
    if not override and match.credential_sha256 is not None:  # a verify of it could only ever fail
        raise BadMatch("match.credential: credentials are never kept in the journal, so no entry has one; "
                       "match on user (who called) instead; credential is for overrides")
    problem = route_problem(match, specs, routed=override)
    if problem:
        raise BadMatch(problem)
    return match


def _credential_digest(raw: Mapping) -> str | None:
    credential, digest = _text(raw, "credential"), _text(raw, "credential_sha256")
    if credential is not None and digest is not None:
        raise BadMatch("match.credential: give the credential or its credential_sha256, not both")
    if digest is not None and not SHA256.fullmatch(digest):
        raise BadMatch("match.credential_sha256: the credential's SHA-256, 64 lower-case hex digits")
    return secret_digest(credential) if credential is not None else digest


def _values(raw: Mapping, name: str) -> dict:
    """Header or query values to match; one named like a secret, or given as {"sha256": hex}, as a Sha256."""
    out: dict = {}
    for key, value in (raw.get(name) or {}).items():
        if isinstance(value, Mapping):
            digest = value.get("sha256")
            if set(value) != {"sha256"} or not isinstance(digest, str) or not SHA256.fullmatch(digest):
                raise BadMatch(f'match.{name}.{key}: a value, or {{"sha256": its SHA-256 in lower-case hex}}')
            out[key] = Sha256(digest)
        else:
            out[key] = Sha256(secret_digest(str(value))) if SECRET_NAMES.sensitive(key) else value
    return out


def _body(wanted, where: str):
    """A body to match, with every value under a field named like a secret (`password`, `api_key`) as
    a Sha256, as header and query values are: an override kept, exported or listed never holds it."""
    if not isinstance(wanted, Mapping):
        return wanted
    out = {}
    for key, value in wanted.items():
        secret = isinstance(key, str) and SECRET_NAMES.sensitive(key)
        if secret and isinstance(value, Mapping) and set(value) == {"sha256"}:  # as kept_form wrote it
            if not isinstance(value["sha256"], str) or not SHA256.fullmatch(value["sha256"]):
                raise BadMatch(f'{where}.{key}: a value, or {{"sha256": its SHA-256 in lower-case hex}}')
            out[key] = Sha256(value["sha256"])
        elif secret and not isinstance(value, Mapping | list) and value is not None:
            out[key] = Sha256(secret_digest(str(value)))
        else:
            out[key] = _body(value, f"{where}.{key}")
    return out


def _shown(wanted, mask: str | None):
    """A body match as listed (`mask`: each secret as ***) or as kept (None: as {"sha256": hex})."""
    if isinstance(wanted, Sha256):
        return mask if mask is not None else {"sha256": wanted.hex}
    if isinstance(wanted, Mapping):
        return {key: _shown(value, mask) for key, value in wanted.items()}
    return wanted


def _masked(values: Mapping) -> dict:
    return {key: "***" if isinstance(value, Sha256) else value for key, value in values.items()}


def kept_form(raw):
    """A (checked) raw match as it is stored and exported: its credential, and header and query values
    named like secrets, replaced by their digests, which match the same requests."""
    if not isinstance(raw, Mapping):
        return raw
    kept = dict(raw)
    for name in ("query", "headers"):
        if isinstance(raw.get(name), Mapping):
            kept[name] = {key: {"sha256": value.hex} if isinstance(value, Sha256) else value
                          for key, value in _values(raw, name).items()}
    if isinstance(raw.get("body"), Mapping):
        kept["body"] = _shown(_body(raw["body"], "match.body"), None)
    if raw.get("credential") is not None:
        del kept["credential"]
        kept["credential_sha256"] = secret_digest(raw["credential"])
    return kept


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


# -- method and path: can any request have them? ----------------------------------------------------------
def route_problem(match: Match, specs: Mapping[str, Spec], routed: bool) -> str | None:
    """Why no request could have the match's method and path, or None. With `routed` (an override)
    they must be a method and path the spec serves: a request for anything else is refused by the
    route stage before any override is looked at. The journal also keeps those refused requests, so
    a query or verify is only held to the operation it names; a path always starts with "/" there."""
    if match.path is not None and not match.path.startswith(("/", "*", "?", "[")):
        return f"match.path: {match.path!r} must start with '/' (e.g. /opportunity/{{id}}/ or /opportunity/*)"
    if not routed and match.operation is None:
        return None
    served = [(spec, op) for name, spec in specs.items() if match.vendor in (None, name)
              for op in spec.operations if match.operation in (None, op.operation_id)]
    whose = match.operation or match.vendor or "any vendor here"
    if match.method is not None:
        allowed = {m for _, op in served for m in _methods(op)}
        if match.method.upper() not in allowed:
            return f"match.method: {match.method!r} is not a method of {whose}; one of {', '.join(sorted(allowed))}"
        served = [(spec, op) for spec, op in served if match.method.upper() in _methods(op)]
    alone = len(specs) == 1  # one vendor is served at its spec's base path, several under /VENDOR too
    if match.path is not None and not any(_path_can_match(match.path, spec, op, alone) for spec, op in served):
        templates = sorted({op.path for _, op in served})
        return (f"match.path: {match.path!r} matches no path of {whose}"
                f"{' for ' + match.method.upper() if match.method else ''}: give one of its templates, "
                f"a path of that form or a glob matching one: {', '.join(templates)}")
    return None


def _methods(op: Operation) -> tuple[str, ...]:
    return (op.method, "HEAD") if op.method == "GET" else (op.method,)  # the router answers HEAD as GET


def _path_can_match(wanted: str, spec: Spec, op: Operation, alone: bool) -> bool:
    """Whether some request of `op` has a path `_path_matches` takes for `wanted`: its template, a
    path of that form, vendor-relative or full, a trailing slash forgiven."""
    bare = wanted.rstrip("/") or "/"
    for prefix in {"", spec.base_path if alone else f"/{spec.vendor}{spec.base_path}"}:
        whole = prefix + op.path
        for form in {whole, whole.rstrip("/") or "/"}:
            if any(_fits_some_path(pattern, form) for pattern in {wanted, bare}):
                return True
    return False


@functools.lru_cache(maxsize=4096)  # each override is parsed again by every process when one changes
def _fits_some_path(pattern: str, template: str) -> bool:
    """The template itself, or some path of its form, fits the glob `pattern`."""
    return fnmatch.fnmatchcase(template, pattern) or _meets(_glob_steps(pattern), _template_steps(template))


# A pattern as a list of steps: one character (`char` exactly, or any `fits` takes), or, `repeats`,
# any number of them. Some path fits both a glob and a template when both walks can end together.
@dataclass(frozen=True)
class Step:
    fits: Callable[[str], bool]
    repeats: bool = False
    char: str | None = None
    samples: str = ""  # a class's own characters and their neighbours: where it meets another class

    def meets(self, other: Step) -> bool:
        """Some one character both steps take."""
        char = self.char or other.char
        if char is not None:
            return self.fits(char) and other.fits(char)
        return any(self.fits(c) and other.fits(c) for c in _SAMPLES + self.samples + other.samples)


_SAMPLES = "/a\ue000"  # '/', a character a path segment takes, and one no class names
_ANY = Step(lambda c: True, repeats=True)
_NOT_SLASH = Step(lambda c: c != "/")
_SEGMENT = [_NOT_SLASH, Step(_NOT_SLASH.fits, repeats=True)]  # {id}: one or more of anything but '/'


def _exactly(char: str) -> Step:
    return Step(lambda c: c == char, char=char)


def _glob_steps(glob: str) -> list[Step]:
    """fnmatch's syntax: * any string, ? any character, [...] a class (a lone '[' is itself)."""
    steps: list[Step] = []
    i = 0
    while i < len(glob):
        c = glob[i]
        closing = glob.find("]", i + 2 if glob[i + 1:i + 2] in ("!", "]") else i + 1) if c == "[" else -1
        if c == "*":
            steps.append(_ANY)
        elif c == "?":
            steps.append(Step(lambda _: True))
        elif closing > 0:
            steps.append(_one_of(glob[i:closing + 1]))
            i = closing
        else:
            steps.append(_exactly(c))
        i += 1
    return steps


def _one_of(bracket: str) -> Step:
    one = re.compile(fnmatch.translate(bracket))
    # Where two sets of ranges overlap, one of them has an end there, or just past one.
    near = "".join(chr(n) for c in bracket for n in (ord(c) - 1, ord(c), ord(c) + 1) if n > 0)
    return Step(lambda c: one.match(c) is not None, samples=near)


def _template_steps(template: str) -> list[Step]:
    steps: list[Step] = []
    for part in re.split(r"(\{[^{}/]+\})", template):
        steps += _SEGMENT if part.startswith("{") and part.endswith("}") else [_exactly(c) for c in part]
    return steps


def _meets(glob: list[Step], template: list[Step]) -> bool:
    """Whether one string walks both step lists to their ends (a search over pairs of positions)."""
    seen, todo = set(), [(0, 0)]
    while todo:
        i, j = todo.pop()
        if (i, j) in seen:
            continue
        seen.add((i, j))
        if i == len(glob) and j == len(template):
            return True
        if i < len(glob) and glob[i].repeats:
            todo.append((i + 1, j))
        if j < len(template) and template[j].repeats:
            todo.append((i, j + 1))
        if i < len(glob) and j < len(template) and glob[i].meets(template[j]):
            todo.append((i + (not glob[i].repeats), j + (not template[j].repeats)))
    return False


def _subset(where: str, wanted: Mapping, have: Mapping, cast) -> list[str]:
    out = []
    for key, value in wanted.items():
        if isinstance(value, Sha256):  # a secret: neither side is repeated
            if key not in have or not value.matches(have[key]):
                out.append(f"{where}.{key}: not the one sent")
        elif key not in have or cast(have[key]) != cast(value):
            out.append(f"{where}.{key}: expected {value!r}, got {have.get(key)!r}")
    return out


def _contains(where: str, wanted, have) -> list[str]:
    """`have` contains `wanted`: every field of an object (recursively), equal values otherwise."""
    if isinstance(wanted, Sha256):  # a secret: neither side is repeated
        return [] if have is not None and wanted.matches(have) else [f"{where}: not the one sent"]
    if isinstance(wanted, Mapping):
        if not isinstance(have, Mapping):
            return [f"{where}: expected an object, got {have!r}"]
        out = []
        for key, value in wanted.items():
            if key not in have:
                out.append(f"{where}.{key}: missing (expected {'***' if isinstance(value, Sha256) else repr(value)})")
            else:
                out += _contains(f"{where}.{key}", value, have[key])
        return out
    return [] if have == wanted else [f"{where}: expected {wanted!r}, got {have!r}"]
