"""journal: one entry per request for GET /__mock/requests; credentials never in clear."""
from __future__ import annotations

import collections
import threading
from datetime import UTC, datetime

from mock_server import jsonio
from mock_server.pipeline.exchange import Exchange, Reply
from mock_server.pipeline.stage import Outcome, Stage

SENSITIVE_HEADERS = {"authorization", "apitoken", "cookie", "x-api-key", "proxy-authorization"}


def redact_headers(headers) -> dict[str, str]:
    out = {}
    for name, value in headers.items():
        if name.lower() in SENSITIVE_HEADERS:
            scheme = value.split(" ", 1)[0] if " " in value else ""
            value = f"{scheme} ***" if scheme else "***"
        out[name] = value
    return out


class Journal:
    def __init__(self, size: int = 1000):
        self._entries: collections.deque[dict] = collections.deque(maxlen=size)
        self._lock = threading.Lock()

    def record(self, *, vendor, method, path, query, headers, status, operation, problems, message):
        entry = {
            "time": datetime.now(UTC).isoformat(),
            "vendor": vendor,
            "method": method,
            "path": path,
            "query": query,
            "headers": redact_headers(headers),
            "status": status,
            "operation": operation,
            "message": message,
            "problems": [{"field": p.field, "message": p.message} for p in problems],
        }
        with self._lock:
            self._entries.append(entry)

    def entries(self, limit: int | None = None) -> list[dict]:
        with self._lock:
            items = list(self._entries)
        return items[-limit:] if limit else items

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class Record(Stage):
    """Writes the journal entry: the last stage, so it sees the final answer."""

    name = "journal"

    def __call__(self, exchange: Exchange) -> Outcome:
        request, reply, op = exchange.request, exchange.reply, exchange.op
        assert reply is not None  # the envelope stage made one
        self.mount.journal.record(
            vendor=self.mount.vendor.name, method=request.method, path=request.path,
            query=request.query_string.decode("latin-1"), headers=request.headers, status=reply.status,
            operation=op.operation_id if op else None, problems=exchange.problems, message=message_of(reply),
        )
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
