"""Where a contract run sends its requests: the in-process mock, or a live endpoint.

A `Target` says how to reach the server (a WSGI app, no socket; or a base URL), which credentials
to send and which values to mask in anything printed. Live credentials come from the environment
only, never the command line (they would end up in shell history and CI logs).
"""
from __future__ import annotations

import base64
import logging
import os
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import urlparse

from schemathesis.transport.requests import REQUESTS_TRANSPORT, RequestsTransport
from schemathesis.transport.wsgi import WSGI_TRANSPORT, WSGITransport

from mock_server import create_app
from mock_server import VENDORS, load_spec

MOCK_BASE = "http://127.0.0.1:8080"  # where `crm-mock serve --vendor X` listens: curl lines run against it

# Credentials in the mock keys-file notation: scheme name → value (Basic is "user:password").
MOCK_CREDENTIALS = {
    "close": {"ApiKeyAuth": "api_contract_harness:", "OAuth2": "contract-harness-token"},
    "nexudus": {"OAuth2": "contract-harness-token", "BasicAuth": "harness@example.com:contract-harness"},
    "sprinthub": {"BearerAuth": "contract-harness-token", "ApiToken": "contract-harness-apitoken"},
}

# Client-side caps for live targets, under each vendor's published limits. Nexudus: 60 writes/min,
# 120 calls/min, 1 call per 100 ms (VENDOR-NOTES). Close publishes limits per endpoint group only
# and answers 429 with RateLimit/Retry-After, which the back-off honours. SprintHub publishes none.
DEFAULT_RATES = {"close": "5/s", "nexudus": "60/m", "sprinthub": "1/s"}


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
        """Every form a credential can take in output: raw values, both Basic halves, Basic's base64."""
        found = []
        for value in self.credentials.values():
            found += [value, base64.b64encode(value.encode()).decode(), *value.split(":")]
        return sorted({s for s in found if len(s) >= 4}, key=len, reverse=True)

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
        """Headers satisfying the first of an operation's security requirements we hold credentials for."""
        schemes = load_spec(self.vendor).security_schemes
        for requirement in security:
            if all(name in self.credentials for name in requirement):
                headers = {}
                for name in requirement:
                    scheme, value = schemes[name], self.credentials[name]
                    if scheme.get("type") == "apiKey":
                        headers[scheme["name"]] = value
                    elif scheme.get("scheme", "").lower() == "basic":
                        headers["Authorization"] = "Basic " + base64.b64encode(value.encode()).decode()
                    else:
                        headers["Authorization"] = f"Bearer {value}"
                return headers
        return {}

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


# -- building targets -------------------------------------------------------------------------------
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
    rate = rate or DEFAULT_RATES[vendor]
    per_second(rate)  # a malformed --rate fails here, before any request
    credentials, parameters = credentials_from_env(vendor, env)
    return Target(vendor, url, url, credentials, parameters=parameters, rate=rate)


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

    def need(*names: str) -> list[str]:
        missing = [n for n in names if not env.get(n)]
        if missing:
            raise TargetError(f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: a live "
                              f"{vendor} target reads its credentials from the environment, never the command line")
        return [env[n] for n in names]

    if vendor == "close":
        (key,) = need("CLOSE_API_KEY")
        return {"ApiKeyAuth": f"{key}:"}, {}
    if vendor == "nexudus":
        if env.get("NEXUDUS_TOKEN"):
            return {"OAuth2": env["NEXUDUS_TOKEN"]}, {}
        if not env.get("NEXUDUS_USERNAME") and not env.get("NEXUDUS_PASSWORD"):
            raise TargetError("NEXUDUS_TOKEN is not set (nor NEXUDUS_USERNAME/NEXUDUS_PASSWORD): a live nexudus "
                              "target reads its credentials from the environment, never the command line")
        username, password = need("NEXUDUS_USERNAME", "NEXUDUS_PASSWORD")
        return {"BasicAuth": f"{username}:{password}"}, {}
    if vendor == "sprinthub":
        token, apitoken, instance = need("SPRINTHUB_TOKEN", "SPRINTHUB_APITOKEN", "SPRINTHUB_INSTANCE")
        return {"BearerAuth": token, "ApiToken": apitoken}, {"query.i": instance}
    raise TargetError(f"unknown vendor {vendor!r}; choose from {', '.join(VENDORS)}")


# -- transports -------------------------------------------------------------------------------------
def route_requests(schema, transport) -> None:
    """Make `transport` the one Schemathesis uses for this schema (`schema.transport`, consulted for
    every request when no app is set, and for the extra requests checks send, such as ignored_auth's)."""
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


# -- politeness towards live targets -----------------------------------------------------------------
def per_second(rate: str) -> float:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*/\s*([smh])\s*", rate or "")
    if not match or float(match[1]) <= 0:
        raise TargetError(f"--rate must look like 5/s, 60/m or 1000/h, not {rate!r}")
    return float(match[1]) / {"s": 1, "m": 60, "h": 3600}[match[2]]


def header(headers, name: str) -> str | None:
    """One header from requests' case-insensitive dict or Schemathesis' lowercase dict of lists."""
    value = headers.get(name) if not isinstance(headers, dict) else headers.get(name.lower(), headers.get(name))
    if isinstance(value, list):
        value = value[0] if value else None
    return value


def throttle_wait(vendor: str, response, attempt: int) -> float | None:
    """Seconds to wait before resending, when `response` is the vendor's throttling answer; else None.

    429 everywhere; Nexudus throttles with 409 + Retry-After (a 409 without it is a real conflict);
    SprintHub reportedly answers a 401 whose `msg` mentions too many requests (VENDOR-NOTES, uncertain).
    """
    status, backoff = response.status_code, float(2**attempt)
    if status == 429 or (vendor == "nexudus" and status == 409 and header(response.headers, "Retry-After")):
        return _retry_after(response.headers) or _ratelimit_reset(response.headers) or backoff
    if vendor == "sprinthub" and status == 401 and b"too many requests" in (response.content or b"").lower():
        return backoff
    return None


def _retry_after(headers) -> float | None:
    try:
        return max(0.0, float(header(headers, "Retry-After")))
    except (TypeError, ValueError):
        return None


def _ratelimit_reset(headers, when_exhausted: bool = False) -> float | None:
    """`RateLimit: limit=N, remaining=N, reset=S` (Close): the reset, or None (with `when_exhausted`,
    only when nothing remains)."""
    fields = dict(re.findall(r"(\w+)=([\d.]+)", header(headers, "RateLimit") or ""))
    if "reset" not in fields or (when_exhausted and fields.get("remaining") not in ("0", "0.0")):
        return None
    return float(fields["reset"])


class Throttle:
    """Spaces requests to at most `rate`, waits out throttling answers (up to `retries` times, at most
    `max_wait` seconds each) and pauses when a RateLimit header says the budget is spent."""

    def __init__(self, vendor: str, rate: str, retries: int = 5, max_wait: float = 60.0, sleep=time.sleep,
                 clock=time.monotonic) -> None:
        self.vendor = vendor
        self.interval = 1.0 / per_second(rate)
        self.retries, self.max_wait = retries, max_wait
        self.sleep, self.clock = sleep, clock
        self.next_slot = 0.0
        self.throttled = 0  # throttling answers waited out
        self.lock = threading.Lock()

    def call(self, send):
        for attempt in range(self.retries + 1):
            self._wait_for_slot()
            response = send()
            self._respect_budget(response)
            wait = throttle_wait(self.vendor, response, attempt)
            if wait is None or attempt == self.retries:
                return response
            with self.lock:
                self.throttled += 1
            self.sleep(min(wait, self.max_wait))
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait_for_slot(self) -> None:
        with self.lock:
            now = self.clock()
            slot = max(self.next_slot, now)
            self.next_slot = slot + self.interval
        if slot > now:
            self.sleep(slot - now)

    def _respect_budget(self, response) -> None:
        reset = _ratelimit_reset(response.headers, when_exhausted=True)
        if reset:
            with self.lock:
                self.next_slot = max(self.next_slot, self.clock() + min(reset, self.max_wait))


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
