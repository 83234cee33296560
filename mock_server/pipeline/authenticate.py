"""authenticate: the operation's security requirements → a principal, or a 401/403.

Which schemes an operation needs comes from the spec (`security`, `securitySchemes`); which
credentials are accepted, and who they belong to, from the vendor's `KeyRing` (the keys file).
"""
from __future__ import annotations

import base64

from mock_server.identity import ANONYMOUS, Principal
from mock_server.pipeline.exchange import Exchange
from mock_server.pipeline.stage import Outcome, Stage
from mock_server.problems import MockError
from mock_server.spec import Operation


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
        except ValueError:  # not Base64 (binascii.Error), not ASCII text at all, or not UTF-8 inside
            return None
        return decoded if ":" in decoded else None
    if (kind == "http" and scheme.get("scheme", "").lower() == "bearer") or kind == "oauth2":
        return value if word.lower() == "bearer" and value else None
    return None


class Authenticator:
    """Per vendor: which credentials are accepted and who they belong to."""

    def __init__(self, vendor) -> None:
        self.schemes = vendor.spec.security_schemes
        self.vendor = vendor

    def principal_for(self, credentials: dict[str, str]) -> Principal | None:
        for name, value in credentials.items():  # credentials the vendor itself issued (tokens)
            found = self.vendor.lookup_principal(name, value)
            if found:
                return found
        keys = self.vendor.keys
        if not keys:
            return self.vendor.default_principal(credentials)
        entry = keys.match(credentials)
        return entry.principal(credentials) if entry else None

    def authenticate(self, op: Operation, headers) -> Principal | MockError:
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
                    return MockError(403, "forbidden", f"The caller lacks the role {', '.join(needed)}.")
                return principal
        reason = "The credentials are not valid." if offered else "Credentials are missing or malformed."
        return MockError(401, "unauthorized", reason)


class Authenticate(Stage):
    name = "authenticate"

    def __init__(self, mount) -> None:
        super().__init__(mount)
        self.authenticator = Authenticator(mount.vendor)

    def __call__(self, exchange: Exchange) -> Outcome:
        assert exchange.op is not None  # route ran
        found = self.authenticator.authenticate(exchange.op, exchange.request.headers)
        if isinstance(found, MockError):
            return found
        exchange.principal = found
        return None
