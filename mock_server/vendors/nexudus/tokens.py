"""The OAuth2 token endpoint: password and refresh grants, and the bearer tokens it issued.

An issued pair is handed to the client once, as Nexudus does, and kept only as digests
(`secret_digest`): the record is keyed by the access token's, and a presented token or refresh
token is looked up by its own, so neither the store nor an export of it holds a usable token.
"""
from __future__ import annotations

from mock_server.identity import Principal
from mock_server.problems import MockError
from mock_server.redaction import secret_digest
from mock_server.store import Query
from mock_server.vendors.base import Call, Reply, Vendor, operation

TOKEN_LIFETIME = 604799  # seconds, as Nexudus answers


def oauth_error(kind: str, description: str) -> MockError:
    return MockError(400, kind, description)


def principal_of(user: dict, roles, credentials: dict | None = None) -> Principal:
    """A principal from a stored token or keys-file entry; roles None means a full administrator."""
    return Principal(user=dict(user), roles=None if roles is None else frozenset(roles), credentials=credentials or {})


class TokenEndpoint(Vendor):
    """The token endpoint's part of the Nexudus vendor."""

    def lookup_principal(self, scheme: str, value: str) -> Principal | None:
        """Bearer tokens this endpoint issued, accepted even when a keys file is configured."""
        if self.spec.security_schemes.get(scheme, {}).get("type") != "oauth2":
            return None
        issued = self.store.get(self.collection("tokens"), secret_digest(value))
        if issued is None:
            return None
        return principal_of(issued["user"], issued["roles"], {scheme: value})

    def _password_principal(self, username: str, password: str) -> Principal | None:
        """Zero config accepts any user name and password; a keys file only its BasicAuth pairs."""
        if not self.keys:
            return self.default_principal({})
        entry = self.keys.match({"BasicAuth": f"{username}:{password}"})
        return entry.principal() if entry else None

    def _grant(self, principal: Principal, client_id: str) -> Reply:
        access_token = self.ids.secret("nexudus.access", 32)
        refresh_token = self.ids.secret("nexudus.refresh", 20)
        issued = {
            "access_token_sha256": secret_digest(access_token),
            "refresh_token_sha256": secret_digest(refresh_token),
            "client_id": client_id,
            "user": principal.user,
            "roles": None if principal.roles is None else sorted(principal.roles),
        }
        self.store.insert(self.collection("tokens"), issued["access_token_sha256"], issued)
        return Reply(200, {"access_token": access_token, "token_type": "bearer",
                           "expires_in": TOKEN_LIFETIME, "refresh_token": refresh_token})

    @operation("issueToken")
    def issue_token(self, call: Call) -> Reply:
        form = call.body
        client_id = call.headers.get("client_id") if call.headers else None
        if form["grant_type"] == "refresh_token":
            return self._refresh(form.get("refresh_token"), client_id)
        username, password = form.get("username"), form.get("password")
        if not username or not password:
            raise oauth_error("invalid_request", "The username and password parameters are required.")
        principal = self._password_principal(username, password)
        if principal is None:
            raise oauth_error("invalid_grant", "The user name or password is incorrect.")
        return self._grant(principal, client_id or username)

    def _refresh(self, refresh_token: str | None, client_id: str | None) -> Reply:
        """A refresh token is used once: the old pair is revoked and a new pair issued."""
        if not refresh_token:
            raise oauth_error("invalid_request", "The refresh_token parameter is required.")
        with self.store.transaction():
            where = [("refresh_token_sha256", "eq", secret_digest(refresh_token))]
            rows, _ = self.store.query(self.collection("tokens"), Query(where, limit=1))
            issued = rows[0] if rows else None
            if issued is None or (client_id and client_id != issued["client_id"]):
                raise oauth_error("invalid_grant", "The refresh token is invalid or was issued to another client.")
            self.store.delete(self.collection("tokens"), issued["access_token_sha256"])
            return self._grant(principal_of(issued["user"], issued["roles"]), issued["client_id"])
