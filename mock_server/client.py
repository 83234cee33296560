"""A typed Python client for crm-mock's control API (`/__mock/`), so tests steer and check the mock in
one line each instead of hand-building JSON for `requests`.

    from closeio_api import API
    from mock_server import Client

    mock = Client("http://127.0.0.1:8080")
    mock.reset()
    mock.fail_next("createOpportunity", error="rate_limited", retry_after=1)   # one 429, then normal
    api = API(mock.url("close") + "/", api_key="any-key")
    api.post("opportunity", data={"value": 500})                               # waits out the 429
    mock.verify(operation="createOpportunity", body={"value": 500}, count=2)   # the 429 and the retry

A refused control call raises `ControlError` with the server's message; a `verify` that does not hold
raises `VerificationError`, an `AssertionError` whose message lists the nearest requests and what
differed, so under pytest it fails the test with that diff.
"""
from __future__ import annotations

import json
from typing import Any, overload

import requests
from requests import Response

ADMIN_HEADER = "X-Crm-Mock-Admin-Key"
NAMESPACE_HEADER = "X-Crm-Mock-Namespace"
# Journal filters the GET form takes as query parameters; anything else needs POST /requests/find.
SIMPLE_FILTERS = ("vendor", "operation", "method", "path")


class ControlError(Exception):
    """The control API refused a call (400 a bad override or match, 401 the admin key, 404 no such
    override); `status` and `message` are the server's own."""

    def __init__(self, status: int, message: str, method: str, path: str) -> None:
        super().__init__(f"{method} {path} answered {status}: {message}")
        self.status = status
        self.message = message


class VerificationError(AssertionError):
    """A `verify` that did not hold. The message says what was expected, how many requests matched,
    and for each near miss its method, path, status and the lines saying what differed."""

    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__(_explain(result))
        self.result = result


def _explain(result: dict[str, Any]) -> str:
    match = json.dumps(result.get("match") or {}, sort_keys=True)
    lines = [f"expected {result['expected']} request(s) matching {match}, got {result['count']}"]
    misses = result.get("near_misses") or []
    lines.append("near misses, closest first:" if misses else "no other requests were journaled")
    for miss in misses:
        request = miss["request"]
        lines.append(f"  {request.get('method')} {request.get('path')} -> {request.get('status')}")
        lines += [f"    {difference}" for difference in miss["differences"]]
    return "\n".join(lines)


def _without_none(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


class Client:
    """One crm-mock server, seen through its control API.

    `base_url` is the server's root (`http://127.0.0.1:8080`), not a vendor's base URL; `admin_key`
    is sent as `X-Crm-Mock-Admin-Key`, needed when the server runs with `--admin-key` or `--keys`.
    With `namespace`, everything this client does (reset, overrides, journal, records) and every
    vendor URL it hands out (`url`) is that namespace's: parallel CI jobs on one server never meet.
    """

    def __init__(self, base_url: str, admin_key: str | None = None, timeout: float = 10,
                 namespace: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.admin_key = admin_key
        self.timeout = timeout
        self.namespace = namespace
        self._vendors: dict[str, str] | None = None

    def in_namespace(self, namespace: str | None) -> Client:
        """The same server seen from another namespace (None: the default one)."""
        other = Client(self.base_url, self.admin_key, self.timeout, namespace)
        other._vendors = self._vendors
        return other

    # -- where things are -------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """`{"status": "ok", "vendors": {"close": "/close/api/v1/", ...}, "seed", "seed_data"}`."""
        return self._call("GET", "/health").json()

    def url(self, vendor: str) -> str:
        """The vendor's base URL on this server, without a trailing slash, like the real one
        (`https://api.close.com/api/v1` → `http://127.0.0.1:8080/close/api/v1`)."""
        if self._vendors is None:  # what a server mounts never changes while it runs
            self._vendors = self.health()["vendors"]
        if vendor not in self._vendors:
            raise ValueError(f"{vendor!r} is not served at {self.base_url}; it serves {', '.join(self._vendors)}")
        # A namespace rides in the base URL, so the vendor's own client needs no custom header.
        scope = f"/__ns/{self.namespace}" if self.namespace else ""
        return self.base_url + scope + self._vendors[vendor].rstrip("/")

    def namespaces(self) -> list[dict[str, Any]]:
        """Every namespace on the server: name, records, collections, created, last_used, expires."""
        return self._call("GET", "/namespaces").json()["namespaces"]

    def drop_namespace(self, name: str | None = None) -> None:
        """Remove a namespace (this client's by default) and everything in it, now."""
        name = name or self.namespace
        if not name:
            raise ValueError("no namespace to drop: give a name, or use a Client with a namespace")
        self._call("DELETE", f"/namespaces/{name}")

    # -- the world ---------------------------------------------------------------------------------------
    def reset(self, seed_data: int | None = None, to: str | None = None) -> dict[str, Any]:
        """Back to the seeded world (`seed_data`: that many opportunities per vendor instead of the
        server's `--seed-data`), or to the named snapshot `to`; also removes every override
        (a snapshot's own come back with it) and clears the journal."""
        params = _without_none({"seed_data": seed_data, "to": to})
        return self._call("POST", "/reset", params=params or None).json()

    def snapshot(self) -> bytes:
        """The whole world (records, counters, clocks) as a file `restore` takes back."""
        return self._call("GET", "/snapshot", timeout=max(self.timeout, 300)).content

    def restore(self, snapshot: bytes) -> dict[str, Any]:
        """Put a `snapshot()` back, atomically."""
        return self._call("POST", "/restore", data=snapshot, headers={"Content-Type": "application/json"},
                          timeout=max(self.timeout, 300)).json()

    def save_snapshot(self, name: str) -> dict[str, Any]:
        """Keep the world as it is now in the server's store as `name`; `reset(to=name)` returns to it
        (from any worker or host sharing the store), in milliseconds."""
        return self._call("PUT", f"/snapshots/{name}").json()

    def snapshots(self) -> list[dict[str, Any]]:
        return self._call("GET", "/snapshots").json()["snapshots"]

    def delete_snapshot(self, name: str) -> None:
        self._call("DELETE", f"/snapshots/{name}")

    @overload
    def records(self, collection: None = None) -> dict[str, int]: ...
    @overload
    def records(self, collection: str) -> list[dict[str, Any]]: ...

    def records(self, collection: str | None = None) -> dict[str, int] | list[dict[str, Any]]:
        """What is stored: collection → size, or every record of one collection (`close.opportunities`),
        which is how to see a write the client never heard back about."""
        if collection is None:
            return self._call("GET", "/records").json()["collections"]
        return self._call("GET", f"/records/{collection}").json()["records"]

    # -- steering ----------------------------------------------------------------------------------------
    def override(self, match: dict[str, Any] | None = None, respond: dict[str, Any] | None = None,
                 fault: dict[str, Any] | None = None, stage: str = "before", times: int | None = None,
                 priority: int = 0, **match_fields: Any) -> dict[str, Any]:
        """Add an override and return it as stored (with its `id`). Keyword match fields
        (`vendor=`, `operation=`, `body=`, ...) are merged into `match`; `times=None` is unlimited."""
        spec = _without_none({"match": {**(match or {}), **_without_none(match_fields)}, "respond": respond,
                              "fault": fault})
        spec.update(stage=stage, times=times, priority=priority)
        return self._call("POST", "/overrides", json=spec).json()

    def fail_next(self, operation: str, error: str = "server_error", times: int = 1, vendor: str | None = None,
                  stage: str = "before", **respond_options: Any) -> dict[str, Any]:
        """The next `times` calls of `operation` get the vendor's own `error` answer; `respond_options`
        are that error's settings (`status=502`, `retry_after=1`, `field="value"`, `message=...`).
        `stage="after"` lets the write happen first."""
        return self.override(respond={"error": error, **respond_options}, stage=stage, times=times,
                             operation=operation, vendor=vendor)

    def delay(self, operation: str, ms: float, jitter_ms: float = 0, times: int | None = None,
              vendor: str | None = None) -> dict[str, Any]:
        """Calls of `operation` take `ms` (± `jitter_ms`) longer; every call unless `times` is given."""
        return self.override(fault={"latency_ms": ms, "jitter_ms": jitter_ms}, times=times, operation=operation,
                             vendor=vendor)

    def drop_next(self, operation: str, stage: str = "after", times: int = 1,
                  vendor: str | None = None) -> dict[str, Any]:
        """The next `times` calls of `operation` lose their connection with no answer; by default
        after the write, the case where a client must not blindly retry."""
        return self.override(fault={"drop": True}, stage=stage, times=times, operation=operation, vendor=vendor)

    def overrides(self) -> list[dict[str, Any]]:
        """The overrides in force, with their `hits` and `remaining`."""
        return self._call("GET", "/overrides").json()["overrides"]

    def remove_override(self, id: str | None = None) -> int:
        """Remove one override by `id`, or all of them; returns how many were removed."""
        return self._call("DELETE", "/overrides" + (f"/{id}" if id else "")).json()["deleted"]

    # -- checking ----------------------------------------------------------------------------------------
    def requests(self, match: dict[str, Any] | None = None, *, status: int | None = None, since: str | None = None,
                 limit: int | None = None, **match_fields: Any) -> list[dict[str, Any]]:
        """Journal entries, oldest first, filtered like a `match` (plus `status`, `since`, `limit`:
        the newest N). Credentials in them are masked as `***`."""
        fields = {**(match or {}), **_without_none(match_fields)}
        if match is None and set(fields) <= set(SIMPLE_FILTERS):
            params = _without_none({**fields, "status": status, "since": since, "limit": limit})
            return self._call("GET", "/requests", params=params).json()["requests"]
        query = _without_none({"match": fields, "status": status, "since": since, "limit": limit})
        return self._call("POST", "/requests/find", json=query).json()["requests"]

    def verify(self, match: dict[str, Any] | None = None, *, count: int | None = None, min: int | None = None,
               max: int | None = None, status: int | None = None, since: str | None = None,
               **match_fields: Any) -> dict[str, Any]:
        """Check how many journaled requests match: exactly `count`, or between `min` and `max` (at
        least 1 when none is given); `status` and `since` (ISO 8601) narrow them as in `requests`.
        Returns the server's answer; raises `VerificationError` with the near misses when the count
        does not hold."""
        __tracebackhide__ = True  # under pytest, the failure points at the test's line, not this one
        body = _without_none({"match": {**(match or {}), **_without_none(match_fields)}, "count": count, "min": min,
                              "max": max, "status": status, "since": since})
        response = self._call("POST", "/verify", json=body, allowed=(409,))
        if response.status_code == 409:
            raise VerificationError(response.json())
        return response.json()

    # -- transport ---------------------------------------------------------------------------------------
    def _call(self, method: str, path: str, allowed: tuple[int, ...] = (), **kwargs: Any) -> Response:
        headers = {ADMIN_HEADER: self.admin_key} if self.admin_key else {}
        if self.namespace:
            headers[NAMESPACE_HEADER] = self.namespace
        headers.update(kwargs.pop("headers", {}))
        kwargs.setdefault("timeout", self.timeout)
        response = requests.request(method, f"{self.base_url}/__mock{path}", headers=headers, **kwargs)
        if response.status_code >= 400 and response.status_code not in allowed:
            try:
                message = response.json()["error"]
            except (ValueError, KeyError, TypeError):
                message = response.text
            raise ControlError(response.status_code, message, method, f"/__mock{path}")
        return response
