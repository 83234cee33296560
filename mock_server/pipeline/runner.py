"""The runner: one vendor's stages, composed in one place and run in order for each request.

    request stages:  limits → namespace → route → authenticate → throttle → validate → chaos → override → handle
    response stages: envelope → self_check → override_after → journal

A `Mount` is one vendor served under a path prefix; its `Pipeline` is built once at start-up
from stage classes (`DEFAULT_REQUEST_STAGES`, `DEFAULT_RESPONSE_STAGES`, or lists a caller
passes to `create_app`), so no request pays for reading the spec or choosing stages.
"""
from __future__ import annotations

import functools
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from werkzeug import Request, Response

from mock_server import jsonio
from mock_server.pipeline.access_log import AccessLog
from mock_server.pipeline.authenticate import Authenticate
from mock_server.pipeline.chaos import Chaos
from mock_server.pipeline.envelope import Envelope
from mock_server.pipeline.exchange import Exchange, Reply, Text
from mock_server.pipeline.handle import Handle
from mock_server.pipeline.journal import Journal, Record
from mock_server.pipeline.limits import Limits
from mock_server.pipeline.namespace import SelectNamespace
from mock_server.pipeline.override import OverrideAfter, OverrideBefore
from mock_server.pipeline.route import Route
from mock_server.pipeline.self_check import SelfCheck
from mock_server.pipeline.stage import Stage
from mock_server.pipeline.throttle import Throttle
from mock_server.pipeline.validate import Validate
from mock_server.problems import MockError
from mock_server.settings import Settings
from mock_server.steering.faults import FaultyResponse, wait
from mock_server.store.base import Stale, StoreUnavailable
from mock_server.store.namespaced import CURRENT as NAMESPACE
from mock_server.store.namespaced import DEFAULT

if TYPE_CHECKING:  # vendors import the pipeline's Call and Reply
    from mock_server.serve.namespaces import Namespaces
    from mock_server.steering.overrides import OverrideBook
    from mock_server.vendors.base import Vendor

log = logging.getLogger("crm_mock")

DEFAULT_REQUEST_STAGES: tuple[type[Stage], ...] = (Limits, SelectNamespace, Route, Authenticate, Throttle, Validate, Chaos,
                                                   OverrideBefore, Handle)
DEFAULT_RESPONSE_STAGES: tuple[type[Stage], ...] = (Envelope, SelfCheck, OverrideAfter, Record, AccessLog)


def insert_stage(stages: Sequence[type[Stage]], stage: type[Stage], *, before: str | None = None,
                 after: str | None = None) -> tuple[type[Stage], ...]:
    """A copy of `stages` with `stage` placed before or after the stage of that name."""
    names = [s.name for s in stages]
    anchor = before or after
    if anchor not in names:
        raise ValueError(f"no stage named {anchor!r}; the stages are {', '.join(names)}")
    at = names.index(anchor) + (1 if after else 0)
    return (*stages[:at], stage, *stages[at:])


@dataclass(frozen=True)
class Mount:
    """One vendor served under `prefix` ("/close" when all vendors share a server, "" alone):
    what every stage of its pipeline is built from."""

    vendor: Vendor
    prefix: str
    settings: Settings
    journal: Journal
    overrides: OverrideBook | None = None  # shared by every vendor of the app
    namespaces: Namespaces | None = None  # likewise

    @functools.cached_property
    def base(self) -> str:  # asked on every request (dispatch, journal): built once
        return self.prefix + self.vendor.spec.base_path

    def owns(self, path: str) -> bool:
        return path == self.base or path.startswith(self.base + "/") or (
            self.prefix != "" and (path == self.prefix or path.startswith(self.prefix + "/"))
        )


class Pipeline:
    """Runs a request through a mount's stages and renders the reply as a response."""

    def __init__(self, mount: Mount, request_stages: Sequence[type[Stage]] = DEFAULT_REQUEST_STAGES,
                 response_stages: Sequence[type[Stage]] = DEFAULT_RESPONSE_STAGES) -> None:
        self.mount = mount
        self.rng = random.Random(mount.settings.seed)  # fault jitter, reproducible per --seed
        self.request_stages = [s for s in (cls.build(mount) for cls in request_stages) if s is not None]
        self.response_stages = [s for s in (cls.build(mount) for cls in response_stages) if s is not None]
        self.store = mount.vendor.store
        self._confirming = [s for s in self.request_stages if type(s).confirm is not Stage.confirm]
        self._rerun_from = self.request_stages.index(self._confirming[0]) if self._confirming else None

    def reset(self) -> None:
        for stage in self.request_stages + self.response_stages:
            stage.reset()

    @property
    def stage_names(self) -> list[str]:
        return [s.name for s in self.request_stages + self.response_stages]

    def handle(self, request: Request) -> Response | FaultyResponse:
        token = NAMESPACE.set(DEFAULT)  # the namespace stage may choose another for this request
        try:
            return self._handle(request)
        finally:
            NAMESPACE.reset(token)

    def _handle(self, request: Request) -> Response | FaultyResponse:
        exchange = Exchange(request)
        outcome = self._run_request_stages(exchange)
        if isinstance(outcome, MockError):
            exchange.error = outcome
        else:
            exchange.reply = outcome
        try:
            for stage in self.response_stages:
                replaced = stage(exchange)
                if isinstance(replaced, Reply):
                    exchange.reply = replaced
            reply = exchange.reply
            assert reply is not None  # a handler's reply, or the envelope's for a refusal
            if isinstance(reply.body, Text):  # the Content-Type is among the override's headers
                response = Response(reply.body.text, reply.status, reply.headers)
            else:
                response = Response(jsonio.dumps(reply.body), reply.status, reply.headers, mimetype="application/json")
        except StoreUnavailable:  # e.g. an override's use counted in a database that just went away
            reply = self.mount.vendor.error_reply(store_unavailable(exchange), exchange.op)
            return Response(jsonio.dumps(reply.body), reply.status, reply.headers, mimetype="application/json")
        except Exception:  # noqa: BLE001 - as in the request stages: never a traceback to the client
            log.exception("answering failed for %s %s", request.method, request.path)
            error = MockError(500, "internal", "The mock failed to handle this request; see its log.")
            reply = self.mount.vendor.error_reply(error, exchange.op)
            return Response(jsonio.dumps(reply.body), 500, mimetype="application/json")
        if exchange.fault is None:
            return response
        wait(exchange.fault, self.rng)
        return FaultyResponse(exchange.fault, response) if exchange.fault.cuts_connection else response

    def _run_request_stages(self, exchange: Exchange) -> Reply | MockError:
        try:
            try:
                return self._answer(exchange, 0)
            except Stale:
                # A stage relied on state that had changed since (an override set through another
                # process): nothing the request wrote committed; the stages from the first that
                # confirms run again, and read that state this time.
                if self._rerun_from is None:
                    raise
                exchange.rerun, exchange.override, exchange.fault = True, None, None
                return self._answer(exchange, self._rerun_from)
        except StoreUnavailable:
            return store_unavailable(exchange)
        except Exception:  # noqa: BLE001 - the promise is: never a stack trace to the client
            request = exchange.request
            log.exception("handler failed for %s %s", request.method, request.path)
            return MockError(500, "internal", "The mock failed to handle this request; see its log.")
        finally:
            self.store.end_check(verify=False)  # a request's deferred checks never outlive it

    def _answer(self, exchange: Exchange, start: int) -> Reply | MockError:
        try:
            for stage in self.request_stages[start:]:
                outcome = stage(exchange)
                if outcome is not None:
                    break
            else:
                raise RuntimeError("no request stage answered")  # a pipeline without `handle`
        except MockError as error:  # raised from inside vendor code (handlers)
            outcome = error
        for stage in self._confirming:  # what they relied on unread, whatever the answer was
            stage.confirm(exchange)
        return outcome


def store_unavailable(exchange: Exchange) -> MockError:
    """The vendor's 503: the store (a database restarting) cannot be reached; the client retries."""
    log.warning("the store is unavailable for %s %s", exchange.request.method, exchange.request.path)
    return MockError(503, "server_error", "Service temporarily unavailable: the mock's store is "
                                          "unreachable; retry shortly.", headers={"Retry-After": "1"})
