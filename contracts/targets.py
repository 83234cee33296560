"""Where a contract run sends its requests: the in-process mock, or a live endpoint.

A `Target` says how to reach the server (a WSGI app, no socket; or a base URL), which credentials
to send and which values to mask in anything printed. Live credentials come from the environment
only, never the command line (they would end up in shell history and CI logs).
"""
from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import urlparse

from schemathesis.transport.requests import REQUESTS_TRANSPORT, RequestsTransport
from schemathesis.transport.wsgi import WSGI_TRANSPORT, WSGITransport

from mock_server import VENDOR_CLASSES, VENDORS, create_app, load_spec, parse_rate
from mock_server.live import MissingCredentials, Throttle, auth_headers, from_env, mask, secret_forms

MOCK_BASE = "http://127.0.0.1:8080"  # where `crm-mock serve --vendor X` listens: curl lines run against it

# Credentials in the mock keys-file notation: scheme name → value (Basic is "user:password").
MOCK_CREDENTIALS = {
    "close": {"ApiKeyAuth": "api_contract_harness:", "OAuth2": "contract-harness-token"},
    "nexudus": {"OAuth2": "contract-harness-token", "BasicAuth": "harness@example.com:contract-harness"},
    "sprinthub": {"BearerAuth": "contract-harness-token", "ApiToken": "contract-harness-apitoken"},
}



class TargetError(Exception):
    """The target cannot be used as given (bad URL, missing credential variable)."""


@dataclass
class Target:
    vendor: str
    name: str  # for people: "mock (in-process)" or the URL
    base_url: str
    credentials: dict[str, str]  # scheme name → value, as in the mock keys file
    app: Any = None  # a WSGI app for in-process targets
    parameters: dict[str, str] = field(default_factory=dict)  # fixed parameter values, e.g. SprintHub's instance
    rate: str | None = None  # live only: "N/s" or "N/m"

    @property
    def live(self) -> bool:
        return self.app is None

    @property
    def secrets(self) -> list[str]:
        return secret_forms(self.credentials)

    def schemathesis_auth(self) -> dict:
        """The credentials as Schemathesis' `auth.openapi` config, keyed by security scheme."""
        schemes = load_spec(self.vendor).security_schemes
        auth = {}
        for name, value in self.credentials.items():
            kind = schemes[name].get("type"), schemes[name].get("scheme", "").lower()
            if kind == ("http", "basic"):
                username, _, password = value.partition(":")
                auth[name] = {"username": username, "password": password}
            elif kind[0] == "apiKey":
                auth[name] = {"api_key": value}
            else:  # http bearer, oauth2
                auth[name] = {"bearer": value}
        return auth

    def headers_for(self, security: list[dict]) -> dict[str, str]:
        return auth_headers(load_spec(self.vendor).security_schemes, self.credentials, security)

    def mask(self, text: str) -> str:
        return mask(text, self.secrets)


# -- building targets -------------------------------------------------------------------------------
LOOPBACK_RATE = "1000/s"


def is_loopback(host: str | None) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def resolve(vendor: str, target: str, *, env: Mapping[str, str] = os.environ, seed: int = 0,
            rate: str | None = None, all_vendors: bool = False) -> Target:
    """`mock`, or a live URL. With `all`, the URL is a `crm-mock serve` root (vendors under /<vendor>)."""
    if target == "mock":
        return mock(vendor, seed)
    parsed = urlparse(target)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise TargetError(f"--target must be `mock` or an http(s) URL, not {target!r}")
    if parsed.username or parsed.password:
        raise TargetError("--target must not carry credentials: they are read from the environment")
    url = target.rstrip("/")
    if all_vendors:
        url += f"/{vendor}{load_spec(vendor).base_path}"
    # The vendor's published limits protect the vendor; a server on this machine (crm-mock serve,
    # a recording proxy) has none, and pacing it like the vendor made a local run take minutes.
    rate = rate or (LOOPBACK_RATE if is_loopback(parsed.hostname) else VENDOR_CLASSES[vendor].LIVE.rate)
    try:
        parse_rate(rate)  # a malformed --rate fails here, before any request
    except ValueError:
        raise TargetError(f"--rate must look like 5/s, 60/m or 1000/h, not {rate!r}") from None
    credentials, parameters = credentials_from_env(vendor, env)
    return Target(vendor, url, url, credentials, parameters=parameters, rate=rate)


PROBE_TIMEOUT = 5.0  # seconds: connect and first byte


def probe(target: Target) -> None:
    """One request to a live target's base URL: any HTTP answer means reachable (even a 401 or 404);
    no answer is a TargetError naming the URL and the error."""
    if not target.live:
        return
    import requests

    try:
        requests.get(target.base_url, timeout=PROBE_TIMEOUT, allow_redirects=False).close()
    except requests.RequestException as error:
        reason = getattr(error, "args", [error])[0]
        raise TargetError(f"cannot reach {target.base_url}: {type(error).__name__}: {target.mask(str(reason))}") from None


def mock(vendor: str, seed: int = 0) -> Target:
    """The mock, in-process. It accepts only the harness' credentials (a keys file), so wrong or
    missing credentials get the vendor's 401 and `ignored_auth` has something to check."""
    credentials = MOCK_CREDENTIALS[vendor]
    app = create_app(vendor, keys={vendor: [{"credentials": credentials, "user": {"name": "Contract Harness"}}]},
                     seed=seed)
    return in_process(vendor, app, credentials, name="mock (in-process)")


def in_process(vendor: str, app, credentials: dict[str, str], name: str = "in-process app") -> Target:
    """Any WSGI app serving `vendor`'s spec at its base path (the mock, or a test fixture)."""
    return Target(vendor, name, MOCK_BASE + load_spec(vendor).base_path, dict(credentials), app=app)


def credentials_from_env(vendor: str, env: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Live credentials (scheme → value) and fixed parameters, or a TargetError naming what is missing."""
    if vendor not in VENDOR_CLASSES:
        raise TargetError(f"unknown vendor {vendor!r}; choose from {', '.join(VENDORS)}")
    try:
        return from_env(vendor, env)
    except MissingCredentials as error:
        raise TargetError(str(error)) from None


# -- transports -------------------------------------------------------------------------------------
def route_requests(schema, transport) -> None:
    """Make `transport` the one Schemathesis uses for this schema (`schema.transport`, consulted for
    every request when no app is set, and for the extra requests checks send, such as ignored_auth's).

    Schemathesis 4.32 has no public way to do this: `BaseSchema.transport` is a read-only property
    over `transport.get(schema.app)`, so the schema gets a one-off subclass overriding it.
    `tests/test_contracts.py::test_the_harness_transport_is_used` fails on an upgrade that breaks this.
    """
    base = type(schema)
    schema.__class__ = type(base.__name__, (base,), {"transport": property(lambda _: transport)})


class InProcessTransport(WSGITransport):
    """The WSGI transport, minus a Schemathesis 4.32 bug: requests that checks send on their own
    (ignored_auth, auth inference, content-type probes) drop the session but keep socket settings
    (`max_redirects`, `verify`, `cert`), which werkzeug's test client rejects with a TypeError.
    In-process they mean nothing, so they are dropped."""

    def __init__(self) -> None:
        super().__init__()
        self._copy_serializers_from(WSGI_TRANSPORT)

    def send(self, case, *, session=None, **kwargs):
        if session is None:
            for name in ("max_redirects", "verify", "cert", "proxies"):
                kwargs.pop(name, None)
        return super().send(case, session=session, **kwargs)


class LiveTransport(RequestsTransport):
    """Requests over the network, kept under the rate cap, with throttling answers waited out and
    every success shown to `observe` (the cleanup ledger)."""

    def __init__(self, throttle: Throttle, observe=None) -> None:
        super().__init__()
        self._copy_serializers_from(REQUESTS_TRANSPORT)
        self.throttle = throttle
        self.observe = observe

    def send(self, case, **kwargs):
        send = super().send
        response = self.throttle.call(lambda: send(case, **kwargs))
        if self.observe is not None:
            self.observe(case, response)
        return response


# -- the in-process mock's own errors ---------------------------------------------------------------------
class ServerErrorLog(logging.Handler):
    """While attached, collects the exceptions the in-process mock logs (its 500s) instead of letting
    the tracebacks scroll by, so the report can name each 500's cause."""

    def __init__(self, logger_name: str = "crm_mock") -> None:
        super().__init__(logging.ERROR)
        self.logger = logging.getLogger(logger_name)
        self.causes: dict[str, list] = {}  # "Type at file:line" → [count, first message]

    def emit(self, record: logging.LogRecord) -> None:
        """Group by exception type and the line that raised it; keep the first message as the example."""
        key, example = record.getMessage(), ""
        if record.exc_info and record.exc_info[1] is not None:
            error, tb = record.exc_info[1], record.exc_info[2]
            while tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
            where = f" at {os.path.basename(tb.tb_frame.f_code.co_filename)}:{tb.tb_lineno}" if tb else ""
            key, example = f"{type(error).__name__}{where}", str(error)[:160]
        self.causes.setdefault(key, [0, example])[0] += 1

    def summaries(self) -> dict[str, int]:
        """"ValueError at nexudus.py:62 (e.g. month must be in 1..12)" → how many times."""
        return {f"{key} (e.g. {example})" if example else key: count for key, (count, example) in self.causes.items()}

    def __enter__(self) -> Self:
        self.propagate, self.logger.propagate = self.logger.propagate, False
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc) -> None:
        self.logger.removeHandler(self)
        self.logger.propagate = self.propagate
