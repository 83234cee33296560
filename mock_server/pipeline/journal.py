"""journal: one entry per request for GET /__mock/requests; credentials never in clear.

Headers, query parameters and body fields that carry credentials are masked by the vendor's
`Redactor` (its security schemes' names, plus anything named like a secret) before the entry is kept.
"""
from __future__ import annotations

import collections
import threading
import time
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from mock_server import jsonio
from mock_server.pipeline.exchange import Exchange, Reply
from mock_server.pipeline.stage import Outcome, Stage
from mock_server.redaction import Redactor


class Journal:
    """The newest `size` entries, oldest first."""

    def __init__(self, size: int = 1000):
        self._entries: collections.deque[dict] = collections.deque(maxlen=size)
        self._lock = threading.Lock()

    def record(self, entry: dict) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self, limit: int | None = None) -> list[dict]:
        with self._lock:
            items = list(self._entries)
        return [_readable(e) for e in (items[-limit:] if limit else items)]

    def view(self, entry: dict) -> dict:
        """A journal entry as `match` sees a request (steering/matching.py)."""
        return {**entry, "query": dict(parse_qsl(entry.get("query") or "", keep_blank_values=True))}

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _readable(entry: dict) -> dict:
    """Times are kept as numbers (cheap on every request) and written out only when read."""
    return {**entry, "time": datetime.fromtimestamp(entry["time"], UTC).isoformat(),
            "duration_ms": round(entry["duration_ms"], 3)}


class Record(Stage):
    """Writes the journal entry: the last stage, so it sees the final answer."""

    name = "journal"

    def __init__(self, mount) -> None:
        super().__init__(mount)
        self.redactor = Redactor.for_schemes(mount.vendor.spec.security_schemes)

    def __call__(self, exchange: Exchange) -> Outcome:
        request, reply, op = exchange.request, exchange.reply, exchange.op
        assert reply is not None  # the envelope stage made one
        redact = self.redactor
        self.mount.journal.record({
            "time": time.time(),
            "vendor": self.mount.vendor.name,
            "operation": op.operation_id if op else None,
            "method": request.method,
            "path": request.path,
            "relative_path": request.path[len(self.mount.base):] or "/",
            "template": op.path if op else None,
            "query": redact.query(request.query_string.decode("latin-1")),
            "headers": redact.environ_headers(request.environ),
            "body": redact.body(exchange.body),
            "status": reply.status,
            "duration_ms": (time.perf_counter() - exchange.started) * 1000,
            "override": exchange.override.id if exchange.override else None,
            "user": exchange.principal.user if exchange.principal else None,
            "message": message_of(reply),
            "problems": [{"field": p.field, "message": p.message} for p in exchange.problems] if exchange.problems
            else [],
        })
        return None


def message_of(reply: Reply) -> str | None:
    """The human message of an error body, whatever the vendor calls it."""
    body = reply.body
    if reply.status < 400 or not isinstance(body, dict):
        return None
    for key in ("error", "msg", "Message", "crm_mock_strict"):
        if isinstance(body.get(key), str):
            return body[key]
    return jsonio.dumps(body)[:500].decode("utf-8", "replace")
