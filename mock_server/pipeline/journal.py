"""journal: one entry per request for GET /__mock/requests; credentials never in clear.

Headers, query parameters and body fields that carry credentials are masked by the vendor's
`Redactor` (its security schemes' names, plus anything named like a secret) before the entry is kept.
"""
from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from mock_server import jsonio
from mock_server.pipeline.exchange import Exchange, Reply
from mock_server.pipeline.stage import Outcome, Stage
from mock_server.redaction import Redactor
from mock_server.steering.faults import describe
from mock_server.store.base import Store, StoreUnavailable

log = logging.getLogger("crm_mock")


class Journal:
    """The newest `size` entries, oldest first, kept in the store: every worker and host sharing it
    appends to, and reads, one journal (per namespace, like everything in the store)."""

    LOG = "journal"

    def __init__(self, store: Store, size: int = 1000):
        self.store = store
        self.size = size

    def record(self, entry: dict) -> None:
        self.store.append_log(self.LOG, entry, self.size)

    def entries(self, limit: int | None = None) -> list[dict]:
        if not self.size:
            return []
        entries = self.store.read_log(self.LOG, min(limit or self.size, self.size))
        # Workers write their entries in batches: by the store's order, theirs may interleave.
        return [_readable(e) for e in sorted(entries, key=lambda e: e["time"])]

    def view(self, entry: dict) -> dict:
        """A journal entry as `match` sees a request (steering/matching.py)."""
        return {**entry, "query": dict(parse_qsl(entry.get("query") or "", keep_blank_values=True))}


def _readable(entry: dict) -> dict:
    """Times are kept as numbers (cheap on every request) and written out only when read."""
    return {**entry, "time": datetime.fromtimestamp(entry["time"], UTC).isoformat(),
            "duration_ms": round(entry["duration_ms"], 3)}


class Record(Stage):
    """Writes the journal entry: the last stage, so it sees the final answer."""

    name = "journal"

    @classmethod
    def build(cls, mount):
        return cls(mount) if mount.settings.journal_size else None  # --journal-size 0: no journal at all

    def __init__(self, mount) -> None:
        super().__init__(mount)
        self.redactor = Redactor.for_schemes(mount.vendor.spec.security_schemes)

    def __call__(self, exchange: Exchange) -> Outcome:
        request, reply, op = exchange.request, exchange.reply, exchange.op
        assert reply is not None  # the envelope stage made one
        redact = self.redactor
        entry = {
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
            # What the client met beside `status` (a drop after a create: stored, the answer never sent).
            "fault": describe(exchange.fault),
            "user": exchange.principal.user if exchange.principal else None,
            "message": message_of(reply),
            "problems": [{"field": p.field, "message": p.message} for p in exchange.problems] if exchange.problems
            else [],
        }
        try:
            self.mount.journal.record(entry)
        except StoreUnavailable:  # the answer stands (a create is stored): only its journal entry is lost
            log.warning("the store is unavailable: no journal entry for %s %s", request.method, request.path)
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
