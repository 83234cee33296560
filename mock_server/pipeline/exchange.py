"""What flows through the pipeline: one `Exchange` per request, the `Call` a handler receives and
the `Reply` it gives. Stages read and fill an exchange; nothing else is shared between them."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from werkzeug import Request

from mock_server.identity import Principal
from mock_server.problems import MockError, Problem
from mock_server.spec import Operation


@dataclass
class Call:
    """A request that passed routing, auth and validation: typed inputs for a handler."""

    op: Operation
    path: dict
    query: dict
    body: Any
    principal: Principal
    headers: Any = None


@dataclass
class Reply:
    """An answer before it is serialized: status, a JSON-able body (or `Text`, sent as it is), extra headers."""

    status: int
    body: Any
    headers: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Text:
    """A body that is not JSON: an override's literal HTML error page from a proxy, plain text."""

    text: str


@dataclass(eq=False, slots=True)
class Exchange:
    """One request on its way through the stages, and everything they learned about it."""

    request: Request
    started: float = field(default_factory=time.perf_counter)
    op: Operation | None = None  # set by route
    path_params: dict[str, str] = field(default_factory=dict)  # raw, from the URL (route)
    principal: Principal | None = None  # set by authenticate
    body: Any = None  # the parsed request body, even when refused (validate; journaled redacted)
    call: Call | None = None  # typed inputs (validate)
    problems: list[Problem] = field(default_factory=list)  # why it was refused, for the journal
    error: MockError | None = None  # a refusal, rendered by the envelope stage
    reply: Reply | None = None  # the answer (handle, or envelope for a refusal)
    override: Any = None  # the override that answered (override stage), for the journal
    fault: Any = None  # how the answer is delivered, if not plainly (an override's `fault`)
    rerun: bool = False  # the request stages run again: state a stage relied on had changed (Stage.confirm)
