"""What never reaches the journal, a log or a report in clear: credentials.

A name is sensitive when a spec's security scheme names it (a header, query parameter or cookie
carrying a key), or when it looks like a secret (password, secret, token, api key, ...). Values of
sensitive headers, query parameters and JSON/form body fields are replaced by `***`. A secret the
mock must recognise again (a token it issued, an override's credential) is kept as `secret_digest`.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlencode

MASK = "***"
# Substrings of a lower-cased name (dashes read as underscores) that mark it as a secret.
SECRET_WORDS = ("password", "passwd", "secret", "token", "api_key", "apikey", "authorization", "cookie",
                "credential", "private_key", "session", "admin_key")


class Redactor:
    CACHE_SIZE = 4096  # distinct names remembered; a flood of random header names cannot grow it

    def __init__(self, names: Iterable[str] = ()) -> None:
        self.names = frozenset(_normal(n) for n in names)
        self._verdicts: dict[str, bool] = {}  # name → sensitive? (the same few names every request)
        self._header_names: dict[str, str] = {}  # environ key → header name ("" for what is not one)

    @classmethod
    def for_schemes(cls, schemes: Mapping[str, dict]) -> Redactor:
        """Every name an apiKey scheme puts in a header, query or cookie is sensitive too."""
        return cls(s["name"] for s in schemes.values() if s.get("type") == "apiKey" and s.get("name"))

    def sensitive(self, name: str) -> bool:
        verdict = self._verdicts.get(name)
        if verdict is None:
            normal = _normal(name)
            verdict = normal in self.names or any(word in normal for word in SECRET_WORDS)
            if len(self._verdicts) < self.CACHE_SIZE:
                self._verdicts[name] = verdict
        return verdict

    def headers(self, headers) -> dict[str, str]:
        out = {}
        for name, value in headers.items():
            if self.sensitive(name):  # cached per name: the same few names come every request
                # "Bearer ***" still says which scheme; only Authorization headers start with one.
                scheme = value.split(" ", 1)[0] if " " in value and name.lower().endswith("authorization") else ""
                value = f"{scheme} {MASK}" if scheme else MASK
            out[name] = value
        return out

    def environ_headers(self, environ) -> dict[str, str]:
        """`headers` straight from a WSGI environ (werkzeug's header view costs more, per request)."""
        out = {}
        names = self._header_names
        for key, value in environ.items():
            name = names.get(key)
            if name is None:
                if key.startswith("HTTP_"):
                    name = key[5:].replace("_", "-").title()
                elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                    name = key.replace("_", "-").title()
                else:
                    name = ""
                if len(names) < self.CACHE_SIZE:
                    names[key] = name
            if name and value:
                out[name] = value
        return self.headers(out)

    def query(self, query_string: str) -> str:
        if not query_string:
            return query_string
        pairs = parse_qsl(query_string, keep_blank_values=True)
        if not any(self.sensitive(name) for name, _ in pairs):
            return query_string
        return urlencode([(name, MASK if self.sensitive(name) else value) for name, value in pairs])

    def body(self, value):
        """A copy of a JSON (or form) body with every sensitive field's value masked, at any depth."""
        if isinstance(value, dict):
            return {k: MASK if isinstance(k, str) and self.sensitive(k) else self.body(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.body(v) for v in value]
        return value


def secret_digest(secret: str) -> str:
    """What is kept in place of a secret that must be recognised later: its SHA-256. Unkeyed, so every
    process and host sharing a store, and a snapshot restored elsewhere, computes the same one; what
    the store, a snapshot or /__mock/records shows is no use as a credential."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _normal(name: str) -> str:
    return name.lower().replace("-", "_")
