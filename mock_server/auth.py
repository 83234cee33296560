"""Security schemes → a principal, or a 401/403, from each operation's `security` in the spec.

Zero config: any well-formed credential is accepted as the vendor's default user with every role.
With a keys file only the listed credentials are accepted, each with its user and roles:

    close:
      - credentials: {ApiKeyAuth: "api_key_alice:"}      # Basic is "username:password"
        user: {name: Alice Admin, email: alice@example.com}
    nexudus:
      - credentials: {OAuth2: "tok-bob", BasicAuth: "bob@example.com:secret"}
        user: {full_name: Bob Reader, email: bob@example.com}
        roles: [CrmOpportunityHistory-List]
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from mock_server.problems import MockError
from mock_server.spec import Operation


@dataclass(frozen=True)
class Principal:
    user: dict
    roles: frozenset[str] | None = None  # None: every role (a full administrator)
    credentials: dict = field(default_factory=dict, compare=False, hash=False)

    def has_roles(self, needed) -> bool:
        return self.roles is None or set(needed) <= self.roles


ANONYMOUS = Principal(user={}, roles=frozenset())


def load_keys(source) -> dict[str, list[dict]]:
    """A keys file path, an already-parsed dict, or None (zero config)."""
    if source is None:
        return {}
    if isinstance(source, (str, Path)):
        with open(source, encoding="utf-8") as fh:
            source = yaml.safe_load(fh) or {}
    if not isinstance(source, dict):
        raise ValueError("the keys file must map vendor names to lists of entries")
    for vendor, entries in source.items():
        for entry in entries or []:
            if not isinstance(entry, dict) or not isinstance(entry.get("credentials"), dict):
                raise ValueError(f"keys file, {vendor}: every entry needs a `credentials` mapping "
                                 "of security scheme name to credential")
    return {vendor: list(entries or []) for vendor, entries in source.items()}


def read_credential(scheme: dict, headers) -> str | None:
    """The credential a scheme carries in this request, or None when absent or malformed."""
    kind = scheme.get("type")
    if kind == "apiKey":
        if scheme.get("in") != "header":
            return None
        value = headers.get(scheme["name"], "").strip()
        return value or None
    authorization = headers.get("Authorization", "")
    word, _, value = authorization.partition(" ")
    value = value.strip()
    if kind == "http" and scheme.get("scheme", "").lower() == "basic":
        if word.lower() != "basic" or not value:
            return None
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded if ":" in decoded else None
    if (kind == "http" and scheme.get("scheme", "").lower() == "bearer") or kind == "oauth2":
        return value if word.lower() == "bearer" and value else None
    return None


class Authenticator:
    """Per vendor: which credentials are accepted and who they belong to."""

    def __init__(self, security_schemes: dict, entries: list[dict], default_principal, lookup_extra=None):
        self.schemes = security_schemes
        self.entries = entries
        self.default_principal = default_principal  # callable(credentials) -> Principal
        self.lookup_extra = lookup_extra  # callable(scheme_name, value) -> Principal | None

    def principal_for(self, credentials: dict[str, str]) -> Principal | None:
        if self.lookup_extra:
            for name, value in credentials.items():
                found = self.lookup_extra(name, value)
                if found:
                    return found
        if not self.entries:
            return self.default_principal(credentials)
        for entry in self.entries:
            listed = entry.get("credentials", {})
            if all(listed.get(name) == value for name, value in credentials.items()):
                roles = entry.get("roles")
                return Principal(
                    user=dict(entry.get("user", {})),
                    roles=None if roles is None else frozenset(roles),
                    credentials=credentials,
                )
        return None

    def authenticate(self, op: Operation, headers) -> Principal:
        if not op.security:
            return ANONYMOUS
        offered = False
        for requirement in op.security:
            if not requirement:
                return ANONYMOUS
            credentials = {}
            for name in requirement:
                value = read_credential(self.schemes.get(name, {}), headers)
                if value is None:
                    break
                credentials[name] = value
            else:
                offered = True
                principal = self.principal_for(credentials)
                if principal is None:
                    continue
                needed = [scope for scopes in requirement.values() for scope in scopes]
                if not principal.has_roles(needed):
                    raise MockError(403, "forbidden", f"The caller lacks the role {', '.join(needed)}.")
                return principal
        reason = "The credentials are not valid." if offered else "Credentials are missing or malformed."
        raise MockError(401, "unauthorized", reason)
